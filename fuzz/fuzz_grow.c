// libFuzzer target: ws_capacity(), the growth policy of a payload that a
// fragmented message is reassembled in.
//
// 1. Any three sizes (cap, need, limit), up to SIZE_MAX: the result is cap
//    when need fits, else at least need, at least 1.25 x cap unless the
//    limit stops it, never more than max(need, limit) under a limit, never
//    more than max(need, 1.25 x cap), and it never wraps around.
// 2. A message of fragments of the given lengths: each grows a real
//    allocation (realloc) as the binding does, is written and unmasked in
//    place with ws_mask(); at the end the bytes are the fragments', and
//    while the limit was not passed the bytes copied by reallocations stay
//    within 5 x the capacity (a x1.25 geometric series sums to 4 x its
//    last term, and the limit may cut the last step short) plus a little
//    for capacities under 16, where a quarter rounds to almost nothing.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_core.h"

#define CHECK(x) do { if (!(x)) { __builtin_trap(); } } while (0)

static size_t read_size(const uint8_t *p) {
    size_t v = 0;
    for (size_t i = 0; i < sizeof(size_t); i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static void check_policy(size_t cap, size_t need, size_t limit) {
    size_t got = ws_capacity(cap, need, limit);
    if (need <= cap) {
        CHECK(got == cap);
        return;
    }
    CHECK(got >= need);
    size_t quarter = cap / 4;
    size_t grown = cap + quarter < cap ? SIZE_MAX : cap + quarter;
    CHECK(got <= (need > grown ? need : grown));
    if (limit != 0) {
        CHECK(got <= (need > limit ? need : limit));
    }
    if (limit == 0 || limit >= grown) {
        // Not held back by the limit: amortised, unless it would wrap.
        CHECK(got >= grown || cap + quarter < cap);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const size_t w = sizeof(size_t);
    if (size >= 3 * w) {
        check_policy(read_size(data), read_size(data + w), read_size(data + 2 * w));
    }
    if (size < 3) {
        return 0;
    }
    // Fragments of up to 4 KiB, 32 KiB in all (so that thousands of
    // inputs run each second), a limit of up to 8 MiB (0: none).
    size_t limit = (size_t)(data[0] | data[1] << 8) << (data[2] & 7);
    const uint8_t *key = (const uint8_t *)"\x37\xfa\x21\x3d";
    size_t cap = 0, used = 0, copied = 0;
    uint8_t *buf = malloc(1);
    CHECK(buf != NULL);
    unsigned fragment = 0;
    for (size_t i = 3; i + 1 < size && used < (32u << 10); i += 2, fragment++) {
        size_t len = (size_t)(data[i] | data[i + 1] << 8) & 0xfff;
        size_t need = used + len;
        size_t grown = ws_capacity(cap, need, limit);
        check_policy(cap, need, limit);
        if (grown != cap) {
            if (limit == 0 || need <= limit) {
                copied += cap;
            }
            buf = realloc(buf, grown + 1);
            CHECK(buf != NULL);
            cap = grown;
        }
        // The fragment arrives masked and is unmasked where it lands.
        for (size_t j = 0; j < len; j++) {
            buf[used + j] = (uint8_t)((fragment * 31 + j) ^ key[j & 3]);
        }
        CHECK(ws_mask(buf + used, len, key, 0) == (len & 3));
        used = need;
        if (limit == 0 || need <= limit) {
            CHECK(copied <= 5 * cap + 64);
        }
    }
    // Every byte is its fragment's, unmasked.
    size_t at = 0;
    fragment = 0;
    for (size_t i = 3; i + 1 < size && at < used; i += 2, fragment++) {
        size_t len = (size_t)(data[i] | data[i + 1] << 8) & 0xfff;
        for (size_t j = 0; j < len; j++) {
            CHECK(buf[at + j] == (uint8_t)(fragment * 31 + j));
        }
        at += len;
    }
    CHECK(at == used);
    free(buf);
    return 0;
}
