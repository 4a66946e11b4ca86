// libFuzzer target: ws_utf8_validate() against a reference checker.
//
// The reference decodes code point values and asks whether the value range
// still reachable from the bytes seen can hold a Unicode scalar value
// (U+0000-U+10FFFF minus the surrogates, not overlong): a formulation of
// RFC 3629 independent of ws_core.c's byte-range table. It finds the first
// byte after which the input cannot be valid, which ws_utf8_validate must
// report as soon as it sees that byte (fail fast). Input: shift, cut,
// text... The text sits `shift` bytes into an exact allocation.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_core.h"

#define CHECK(x) do { if (!(x)) { __builtin_trap(); } } while (0)

// Can a code point of `need` continuation bytes, of which `have` were seen
// with value bits `cp` so far, still be a valid, shortest-form scalar?
static int reachable(uint32_t cp, int need, int have) {
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    int missing = 6 * (need - have);
    uint32_t lo = cp << missing;
    uint32_t hi = lo | ((UINT32_C(1) << missing) - 1);
    if (hi < min[need] || lo > 0x10ffff) {
        return 0;
    }
    if (lo >= 0xd800 && hi <= 0xdfff) {
        return 0;   // only surrogates left
    }
    return 1;
}

// 0 valid and complete, 1 valid but ends inside a code point, -1 invalid
// with *fail the index of the first impossible byte.
static int ref_utf8(const uint8_t *s, size_t n, size_t *fail) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        int need;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            need = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            need = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            need = 3;
            cp = c & 0x07;
        } else {
            *fail = i;
            return -1;
        }
        if (!reachable(cp, need, 0)) {
            *fail = i;
            return -1;
        }
        for (int k = 1; k <= need; k++) {
            if (i + k >= n) {
                return 1;
            }
            uint8_t t = s[i + k];
            if ((t & 0xc0) != 0x80 || !reachable(cp << 6 | (t & 0x3f), need, k)) {
                *fail = i + k;
                return -1;
            }
            cp = cp << 6 | (t & 0x3f);
        }
        i += need + 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) {
        return 0;
    }
    size_t shift = data[0] & 7;
    const uint8_t *text = data + 2;
    size_t n = size - 2;
    size_t cut = n ? data[1] % (n + 1) : 0;
    uint8_t *mem = malloc(shift + n + 1);
    CHECK(mem != NULL);
    uint8_t *s = mem + shift;
    memcpy(s, text, n);

    size_t fail = 0;
    int want = ref_utf8(s, n, &fail);
    int got = ws_utf8_validate(s, n, 0);
    CHECK(got >= -1 && got < WS_UTF8_STATES);
    if (want == -1) {
        CHECK(got == -1);
        // Fail fast: fine up to the impossible byte, rejected with it.
        CHECK(ws_utf8_validate(s, fail, 0) >= 0);
        CHECK(ws_utf8_validate(s, fail + 1, 0) == -1);
    } else if (want == 0) {
        CHECK(got == 0);
    } else {
        CHECK(got > 0);
    }

    // In two pieces, the second continuing from the first one's state.
    int first = ws_utf8_validate(s, cut, 0);
    if (first >= 0) {
        CHECK(ws_utf8_validate(s + cut, n - cut, first) == got);
    } else {
        CHECK(got == -1 && fail < cut);
    }
    free(mem);
    return 0;
}
