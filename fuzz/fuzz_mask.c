// libFuzzer target: ws_mask() against a byte-wise reference.
//
// Input: key[4], offset, shift, cut, payload... The payload is copied to
// `shift` bytes past a fresh allocation (every alignment), masked whole and
// in two pieces split at `cut`, and compared with RFC 6455 5.3 applied one
// byte at a time. ASan bounds the copy exactly; UBSan (alignment included)
// aborts on a misaligned word access.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_core.h"

#define CHECK(x) do { if (!(x)) { __builtin_trap(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 7) {
        return 0;
    }
    const uint8_t *key = data;
    unsigned offset = data[4];          // any value: only offset & 3 counts
    size_t shift = data[5] & 7;
    const uint8_t *payload = data + 7;
    size_t len = size - 7;
    size_t cut = len ? data[6] % (len + 1) : 0;

    uint8_t *mem = malloc(shift + len + 1);
    uint8_t *ref = malloc(len + 1);
    CHECK(mem != NULL && ref != NULL);
    uint8_t *buf = mem + shift;
    for (size_t i = 0; i < len; i++) {
        ref[i] = payload[i] ^ key[(offset + i) % 4];
    }

    // Whole buffer.
    memcpy(buf, payload, len);
    CHECK(ws_mask(buf, len, key, offset) == ((offset + len) & 3));
    CHECK(memcmp(buf, ref, len) == 0);

    // Masking again restores the payload.
    ws_mask(buf, len, key, offset);
    CHECK(memcmp(buf, payload, len) == 0);

    // Two pieces, the second continuing from the phase the first returned.
    unsigned phase = ws_mask(buf, cut, key, offset);
    CHECK(phase == ((offset + cut) & 3));
    ws_mask(buf + cut, len - cut, key, phase);
    CHECK(memcmp(buf, ref, len) == 0);

    free(mem);
    free(ref);
    return 0;
}
