// Host unit test of ws_core.c, built with -fsanitize=alignment (and
// address, undefined) with no recovery: masking and UTF-8 validation at
// every start offset 0-7 prove that no misaligned word is ever accessed.
// `make -C fuzz unit` builds and runs it; it prints one summary line.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_core.h"

static int failures;

#define EXPECT(x) do { \
        if (!(x)) { \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x); \
            failures++; \
        } \
} while (0)

static void test_mask_every_alignment(void) {
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    // 16-byte aligned storage, so buf + shift has alignment shift mod 8.
    static _Alignas(16) uint8_t mem[8 + 256 + 8];
    uint8_t ref[256];
    size_t runs = 0;
    for (size_t shift = 0; shift < 8; shift++) {
        for (size_t len = 0; len <= 256; len++) {
            for (unsigned offset = 0; offset < 4; offset++) {
                for (size_t i = 0; i < sizeof(mem); i++) {
                    mem[i] = (uint8_t)(i * 7 + len);
                }
                uint8_t *buf = mem + shift;
                for (size_t i = 0; i < len; i++) {
                    ref[i] = buf[i] ^ key[(offset + i) % 4];
                }
                uint8_t before = mem[shift], after = buf[len];
                EXPECT(ws_mask(buf, len, key, offset) == ((offset + len) & 3));
                EXPECT(memcmp(buf, ref, len) == 0);
                // The bytes around the buffer are untouched.
                EXPECT(after == buf[len]);
                EXPECT(shift == 0 || mem[shift - 1] == (uint8_t)((shift - 1) * 7 + len));
                (void)before;
                runs++;
            }
        }
    }
    printf("mask: %zu runs at start offsets 0-7\n", runs);
}

static void test_utf8_every_alignment(void) {
    static _Alignas(16) uint8_t mem[8 + 64];
    size_t runs = 0;
    for (size_t shift = 0; shift < 8; shift++) {
        for (size_t pos = 0; pos < 40; pos++) {
            uint8_t *s = mem + shift;
            memset(s, 'a', 48);
            // Valid 3-byte sequence at pos: still valid.
            memcpy(s + pos, "\xe2\x82\xac", 3);
            EXPECT(ws_utf8_validate(s, 48, 0) == 0);
            // Surrogate at pos: rejected.
            memcpy(s + pos, "\xed\xa0\x80", 3);
            EXPECT(ws_utf8_validate(s, 48, 0) == -1);
            EXPECT(ws_utf8_validate(s, pos + 1, 0) == 5);
            // Truncated at the end of the buffer: state > 0.
            memcpy(s + pos, "\xf0\x9f\x8e", 3);
            EXPECT(ws_utf8_validate(s, pos + 3, 0) == 1);
            runs += 4;
        }
    }
    printf("utf8: %zu runs at start offsets 0-7\n", runs);
}

static void test_headers(void) {
    uint8_t out[WS_MAX_HEADER_LEN];
    ws_header_t h;
    static const uint8_t key[4] = {1, 2, 3, 4};
    EXPECT(ws_build_header(out, sizeof(out), WS_OP_BINARY, UINT64_C(1) << 32,
            true, key) == 14);
    EXPECT(ws_parse_header(out, 14, &h) == 14);
    EXPECT(h.length == UINT64_C(1) << 32 && h.masked && h.fin);
    EXPECT(ws_parse_header(out, 13, &h) == 0);
    EXPECT(ws_build_header(out, sizeof(out), 3, 0, true, NULL) == WS_ERR_OPCODE);
    EXPECT(ws_build_header(out, 1, WS_OP_TEXT, 0, true, NULL) == WS_ERR_BUFFER);
    EXPECT(ws_parse_header((const uint8_t *)"\x89\x7e", 2, &h) == WS_ERR_CONTROL_LENGTH);
    EXPECT(ws_parse_header((const uint8_t *)"\x09", 1, &h) == WS_ERR_CONTROL_FIN);
    printf("headers: ok\n");
}

static void test_capacity(void) {
    EXPECT(ws_capacity(100, 50, 0) == 100);             // fits: unchanged
    EXPECT(ws_capacity(100, 101, 0) == 125);            // x1.25
    EXPECT(ws_capacity(100, 200, 0) == 200);            // or what is needed
    EXPECT(ws_capacity(100, 101, 110) == 110);          // spare up to the limit
    EXPECT(ws_capacity(100, 120, 110) == 120);          // never below need
    EXPECT(ws_capacity(0, 10, 0) == 10);
    EXPECT(ws_capacity(SIZE_MAX - 2, SIZE_MAX - 1, 0) == SIZE_MAX - 1); // no wrap
    printf("capacity: ok\n");
}

#ifdef WS_CANARY
// Proves the sanitizer is live: a misaligned word read must abort.
static void canary(void) {
    static _Alignas(16) uint8_t mem[16];
    volatile uintptr_t p = (uintptr_t)(mem + 1);
    printf("canary: %u\n", (unsigned)*(const uint32_t *)p);
}
#endif

int main(void) {
    #ifdef WS_CANARY
    canary();
    #endif
    test_mask_every_alignment();
    test_utf8_every_alignment();
    test_headers();
    test_capacity();
    if (failures) {
        printf("FAILED: %d checks\n", failures);
        return 1;
    }
    printf("ws_core unit test: ok\n");
    return 0;
}
