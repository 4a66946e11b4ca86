/*
 * WebSocket (RFC 6455) frame primitives; see ws_core.h.
 *
 * The MIT License (MIT)
 */
#include "ws_core.h"

// The native word: 32 bits on Xtensa and ARM, 64 bits on x86-64. It is only
// ever used through a pointer that is aligned to its size, because Xtensa
// traps on misaligned word access; may_alias makes reading a byte buffer
// through it well defined.
#if defined(__GNUC__)
typedef uintptr_t __attribute__((may_alias)) ws_word_t;
#else
typedef uintptr_t ws_word_t;
#endif

#define WS_WORD_SIZE (sizeof(ws_word_t))
#define WS_IS_ALIGNED(p) (((uintptr_t)(p) & (WS_WORD_SIZE - 1)) == 0)

unsigned ws_mask(uint8_t *buf, size_t len, const uint8_t *key, unsigned offset) {
    uint8_t *end = buf + len;
    offset &= 3;

    // Bytes up to the first word boundary.
    while (buf < end && !WS_IS_ALIGNED(buf)) {
        *buf++ ^= key[offset];
        offset = (offset + 1) & 3;
    }

    if ((size_t)(end - buf) >= WS_WORD_SIZE) {
        // The key rotated to the current phase, repeated across a word, in
        // memory order: byte i of the word masks the byte at buf + i. Built
        // through a union so it is right on either endianness.
        union {
            uint8_t b[WS_WORD_SIZE];
            ws_word_t w;
        } k;
        for (unsigned i = 0; i < WS_WORD_SIZE; i++) {
            k.b[i] = key[(offset + i) & 3];
        }
        const ws_word_t kw = k.w;
        ws_word_t *w = (ws_word_t *)buf;
        size_t n = (size_t)(end - buf) / WS_WORD_SIZE;
        // Four words per round keeps the loop overhead off the hot path.
        for (; n >= 4; n -= 4, w += 4) {
            w[0] ^= kw;
            w[1] ^= kw;
            w[2] ^= kw;
            w[3] ^= kw;
        }
        for (; n > 0; n--) {
            *w++ ^= kw;
        }
        // A whole number of words is a multiple of 4 bytes: same phase.
        buf = (uint8_t *)w;
    }

    while (buf < end) {
        *buf++ ^= key[offset];
        offset = (offset + 1) & 3;
    }
    return offset;
}

int ws_parse_header(const uint8_t *buf, size_t len, ws_header_t *hdr) {
    if (len < 1) {
        return 0;
    }
    // RFC 6455 5.2: "RSV1, RSV2, RSV3: ... MUST be 0 unless an extension is
    // negotiated that defines meanings for non-zero values."
    uint8_t b0 = buf[0];
    if (b0 & 0x70) {
        return WS_ERR_RSV;
    }
    unsigned opcode = b0 & 0x0f;
    if ((opcode >= 0x3 && opcode <= 0x7) || opcode >= 0xb) {
        return WS_ERR_OPCODE;
    }
    bool fin = (b0 & 0x80) != 0;
    // RFC 6455 5.5: "All control frames MUST have a payload length of 125
    // bytes or less and MUST NOT be fragmented."
    if (opcode >= 0x8 && !fin) {
        return WS_ERR_CONTROL_FIN;
    }
    if (len < 2) {
        return 0;
    }
    uint8_t b1 = buf[1];
    uint64_t length = b1 & 0x7f;
    size_t n = 2;
    if (opcode >= 0x8 && length > 125) {
        return WS_ERR_CONTROL_LENGTH;
    }
    if (length == 126) {
        if (len < 4) {
            return 0;
        }
        length = (uint64_t)buf[2] << 8 | buf[3];
        n = 4;
    } else if (length == 127) {
        if (len < 10) {
            return 0;
        }
        length = 0;
        for (size_t i = 2; i < 10; i++) {
            length = length << 8 | buf[i];
        }
        // RFC 6455 5.2: "the most significant bit MUST be 0".
        if (length >> 63) {
            return WS_ERR_LENGTH;
        }
        n = 10;
    }
    // Non-minimal encodings (e.g. 5 as 126 + 0x0005) are accepted: the RFC
    // says "the minimal number of bytes MUST be used" to the sender but does
    // not ask the receiver to fail the connection.
    bool masked = (b1 & 0x80) != 0;
    if (masked) {
        n += 4;
    }
    if (len < n) {
        return 0;
    }
    hdr->length = length;
    hdr->opcode = (uint8_t)opcode;
    hdr->fin = fin;
    hdr->masked = masked;
    hdr->header_len = (uint8_t)n;
    return (int)n;
}

int ws_build_header(uint8_t *buf, size_t size, unsigned opcode,
    uint64_t length, bool fin, const uint8_t *key) {
    if ((opcode >= 0x3 && opcode <= 0x7) || opcode >= 0xb) {
        return WS_ERR_OPCODE;
    }
    if (opcode >= 0x8 && !fin) {
        return WS_ERR_CONTROL_FIN;
    }
    if (opcode >= 0x8 && length > 125) {
        return WS_ERR_CONTROL_LENGTH;
    }
    if (length >> 63) {
        return WS_ERR_LENGTH;
    }
    size_t extra = length > 0xffff ? 8 : length > 125 ? 2 : 0;
    size_t n = 2 + extra + (key != NULL ? 4 : 0);
    if (size < n) {
        return WS_ERR_BUFFER;
    }
    buf[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    buf[1] = (uint8_t)((key != NULL ? 0x80 : 0) |
        (extra == 8 ? 127 : extra == 2 ? 126 : length));
    // Extended length in network byte order.
    for (size_t i = 0; i < extra; i++) {
        buf[2 + i] = (uint8_t)(length >> (8 * (extra - 1 - i)));
    }
    if (key != NULL) {
        for (size_t i = 0; i < 4; i++) {
            buf[2 + extra + i] = key[i];
        }
    }
    return (int)n;
}

// Strict UTF-8 as a small state machine. States 1-7 say what the next byte
// must be; RFC 3629 section 4 gives the valid ranges:
//   UTF8-2 = %xC2-DF UTF8-tail
//   UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
//            %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
//   UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
//            %xF4 %x80-8F 2( UTF8-tail )
// The narrowed second bytes exclude overlongs (E0, F0), UTF-16 surrogates
// (ED) and code points above U+10FFFF (F4); C0, C1 and F5-FF never occur.
//                         state:  1     2     3     4     5     6     7
static const uint8_t ws_utf8_lo[8] = {0, 0x80, 0x80, 0x80, 0xa0, 0x80, 0x90, 0x80};
static const uint8_t ws_utf8_hi[8] = {0, 0xbf, 0xbf, 0xbf, 0xbf, 0x9f, 0xbf, 0x8f};
static const uint8_t ws_utf8_next[8] = {0, 0, 1, 2, 1, 1, 2, 2};

// State after lead byte b (>= 0x80) or WS_UTF8_REJECT.
static int ws_utf8_lead(uint8_t b) {
    if (b < 0xc2) {
        return WS_UTF8_REJECT; // continuation byte, or overlong C0/C1
    } else if (b < 0xe0) {
        return 1;
    } else if (b == 0xe0) {
        return 4;
    } else if (b == 0xed) {
        return 5;
    } else if (b < 0xf0) {
        return 2;
    } else if (b == 0xf0) {
        return 6;
    } else if (b < 0xf4) {
        return 3;
    } else if (b == 0xf4) {
        return 7;
    }
    return WS_UTF8_REJECT;
}

int ws_utf8_validate(const uint8_t *buf, size_t len, int state) {
    const uint8_t *end = buf + len;
    // 0x80 in every byte of a word.
    const ws_word_t high = (ws_word_t)-1 / 0xff * 0x80;
    while (buf < end) {
        if (state == WS_UTF8_ACCEPT) {
            // ASCII runs a word at a time, from aligned addresses only.
            if (WS_IS_ALIGNED(buf)) {
                while ((size_t)(end - buf) >= WS_WORD_SIZE
                       && (*(const ws_word_t *)buf & high) == 0) {
                    buf += WS_WORD_SIZE;
                }
                if (buf == end) {
                    break;
                }
            }
            uint8_t b = *buf++;
            if (b >= 0x80) {
                state = ws_utf8_lead(b);
                if (state < 0) {
                    return WS_UTF8_REJECT;
                }
            }
        } else {
            uint8_t b = *buf++;
            if (b < ws_utf8_lo[state] || b > ws_utf8_hi[state]) {
                return WS_UTF8_REJECT;
            }
            state = ws_utf8_next[state];
        }
    }
    return state;
}

size_t ws_capacity(size_t cap, size_t need, size_t limit) {
    if (need <= cap) {
        return cap;
    }
    // A quarter more keeps the spare room under a fifth of the buffer.
    size_t grown = cap + cap / 4;
    if (grown < need || grown < cap) { // (or wrapped around)
        grown = need;
    }
    if (limit != 0 && grown > limit) {
        grown = limit > need ? limit : need;
    }
    return grown;
}
