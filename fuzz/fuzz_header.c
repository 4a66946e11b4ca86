// libFuzzer target: ws_parse_header() and ws_build_header().
//
// 1. The input as a header: the verdict must match an independent reading
//    of RFC 6455 5.2 (ref_parse below); a parsed header must rebuild to the
//    same fields (and the same bytes when its length encoding was minimal),
//    and every truncation of it must ask for more bytes.
// 2. The input as build parameters: build, then parse back.
#include <stdint.h>
#include <string.h>

#include "ws_core.h"

#define CHECK(x) do { if (!(x)) { __builtin_trap(); } } while (0)

static int ref_rule(unsigned opcode, int fin, uint64_t length) {
    if ((opcode >= 3 && opcode <= 7) || opcode >= 11) {
        return WS_ERR_OPCODE;
    }
    if (opcode >= 8 && !fin) {
        return WS_ERR_CONTROL_FIN;
    }
    if (opcode >= 8 && length > 125) {
        return WS_ERR_CONTROL_LENGTH;
    }
    if (length >= (UINT64_C(1) << 63)) {
        return WS_ERR_LENGTH;
    }
    return 0;
}

// Header length needed, and the verdict on the bytes present.
static int ref_parse(const uint8_t *b, size_t n, ws_header_t *h) {
    if (n == 0) {
        return 0;
    }
    if (b[0] & 0x70) {
        return WS_ERR_RSV;
    }
    unsigned opcode = b[0] & 15;
    int fin = b[0] >> 7;
    int err = ref_rule(opcode, fin, 0);
    if (err) {
        return err;
    }
    if (n == 1) {
        return 0;
    }
    unsigned len7 = b[1] & 127;
    if (opcode >= 8 && len7 > 125) {
        return WS_ERR_CONTROL_LENGTH;
    }
    size_t ext = len7 == 127 ? 8 : len7 == 126 ? 2 : 0;
    if (n < 2 + ext) {
        return 0;
    }
    uint64_t length = len7;
    if (ext) {
        length = 0;
        for (size_t i = 0; i < ext; i++) {
            length = length * 256 + b[2 + i];
        }
    }
    err = ref_rule(opcode, fin, length);
    if (err) {
        return err;
    }
    size_t need = 2 + ext + ((b[1] & 128) ? 4 : 0);
    if (n < need) {
        return 0;
    }
    h->fin = fin;
    h->opcode = opcode;
    h->masked = (b[1] & 128) != 0;
    h->length = length;
    h->header_len = need;
    return (int)need;
}

static size_t minimal_len(uint64_t length, int masked) {
    return 2 + (length > 65535 ? 8 : length > 125 ? 2 : 0) + (masked ? 4 : 0);
}

static void parse_side(const uint8_t *data, size_t size) {
    ws_header_t h, r;
    memset(&h, 0, sizeof(h));
    memset(&r, 0, sizeof(r));
    int n = ws_parse_header(data, size, &h);
    int want = ref_parse(data, size, &r);
    CHECK(n == want);
    if (n <= 0) {
        return;
    }
    CHECK(h.fin == r.fin && h.opcode == r.opcode && h.masked == r.masked);
    CHECK(h.length == r.length && h.header_len == n);
    for (int i = 0; i < n; i++) {
        ws_header_t t;
        CHECK(ws_parse_header(data, (size_t)i, &t) == 0);
    }
    uint8_t out[WS_MAX_HEADER_LEN];
    const uint8_t *key = h.masked ? data + n - 4 : NULL;
    int m = ws_build_header(out, sizeof(out), h.opcode, h.length, h.fin, key);
    CHECK(m == (int)minimal_len(h.length, h.masked));
    if ((size_t)n == minimal_len(h.length, h.masked)) {
        CHECK(memcmp(out, data, (size_t)n) == 0);
    }
    ws_header_t back;
    CHECK(ws_parse_header(out, (size_t)m, &back) == m);
    CHECK(back.fin == h.fin && back.opcode == h.opcode);
    CHECK(back.masked == h.masked && back.length == h.length);
}

static void build_side(const uint8_t *data, size_t size) {
    if (size < 15) {
        return;
    }
    unsigned opcode = data[0] & 31;
    int fin = data[1] & 1;
    int masked = (data[1] >> 1) & 1;
    uint64_t length = 0;
    for (size_t i = 0; i < 8; i++) {
        length = length << 8 | data[2 + i];
    }
    length >>= data[1] >> 2;            // small lengths as often as big
    const uint8_t *key = masked ? data + 10 : NULL;
    size_t room = data[14] % (WS_MAX_HEADER_LEN + 1);

    uint8_t out[WS_MAX_HEADER_LEN + 1];
    out[room] = 0xa5;                   // must survive: beyond `room`
    int n = ws_build_header(out, room, opcode, length, fin, key);
    CHECK(out[room] == 0xa5);
    int err = ref_rule(opcode, fin, length);
    if (err) {
        CHECK(n == err);
        return;
    }
    size_t need = minimal_len(length, masked);
    if (room < need) {
        CHECK(n == WS_ERR_BUFFER);
        return;
    }
    CHECK(n == (int)need);
    ws_header_t h;
    CHECK(ws_parse_header(out, need, &h) == n);
    CHECK(h.opcode == opcode && h.fin == fin && h.masked == masked);
    CHECK(h.length == length);
    if (masked) {
        CHECK(memcmp(out + need - 4, key, 4) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_side(data, size);
    build_side(data, size);
    return 0;
}
