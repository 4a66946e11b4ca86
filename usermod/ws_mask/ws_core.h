/*
 * WebSocket (RFC 6455) frame primitives: masking, header parse/build and
 * strict incremental UTF-8 validation.
 *
 * Pure C99 without MicroPython headers, so that the same code runs in the
 * firmware (modws_mask.c), in host unit tests and under libFuzzer.
 *
 * The MIT License (MIT)
 */
#ifndef WS_CORE_H
#define WS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Longest header: 2 bytes, 8 bytes of extended length, 4 bytes of key.
#define WS_MAX_HEADER_LEN (14)

// Opcodes (RFC 6455 5.2).
#define WS_OP_CONT (0x0)
#define WS_OP_TEXT (0x1)
#define WS_OP_BINARY (0x2)
#define WS_OP_CLOSE (0x8)
#define WS_OP_PING (0x9)
#define WS_OP_PONG (0xa)

// Results of ws_parse_header() and ws_build_header() below 0: the rule that
// the header breaks.
typedef enum {
    WS_ERR_RSV = -1,            // an RSV bit is set (no extension negotiated)
    WS_ERR_OPCODE = -2,         // reserved opcode 3-7 or 0xB-0xF (or > 0xF)
    WS_ERR_CONTROL_FIN = -3,    // control frame with FIN clear
    WS_ERR_CONTROL_LENGTH = -4, // control frame payload over 125 bytes
    WS_ERR_LENGTH = -5,         // 64-bit length with the top bit set
    WS_ERR_BUFFER = -6,         // output buffer too small (build only)
} ws_error_t;

typedef struct {
    uint64_t length;        // payload length
    uint8_t opcode;
    bool fin;
    bool masked;
    uint8_t header_len;     // 2 to 14, key included
} ws_header_t;

// XOR buf[0:len] in place with the 4-byte key, starting at key[offset & 3].
// Returns the key index for the byte after the buffer: (offset + len) & 3.
// Any alignment of buf is fine; only aligned words are ever accessed.
unsigned ws_mask(uint8_t *buf, size_t len, const uint8_t *key, unsigned offset);

// Parse the header at buf[0:len]. Returns its length (2-14) and fills *hdr;
// 0 when more bytes are needed; a ws_error_t when the bytes present already
// break a rule.
int ws_parse_header(const uint8_t *buf, size_t len, ws_header_t *hdr);

// Write the header for a payload of `length` bytes into buf (room for
// `size` bytes), shortest length encoding, masked with `key` unless NULL.
// Returns the header length or a ws_error_t.
int ws_build_header(uint8_t *buf, size_t size, unsigned opcode,
    uint64_t length, bool fin, const uint8_t *key);

// Strict UTF-8 (RFC 3629) decoder states, shared with the Python twin.
#define WS_UTF8_ACCEPT (0)  // complete: at a code point boundary
#define WS_UTF8_REJECT (-1) // no continuation can make the input valid
#define WS_UTF8_STATES (8)  // valid states are 0 .. WS_UTF8_STATES - 1

// Continue validating from `state` over buf[0:len]. Returns WS_UTF8_ACCEPT,
// a positive state (valid so far, inside a code point) or WS_UTF8_REJECT as
// soon as a byte makes the input invalid. `state` must be a valid state.
int ws_utf8_validate(const uint8_t *buf, size_t len, int state);

// The capacity a buffer of `cap` bytes should grow to so that it holds
// `need` bytes: `cap` when it already does, else at least `need` and, so
// that a message growing by pieces is copied O(length) times in all, at
// least 1.25 x `cap`; the spare room stops at `limit` unless that is 0.
// Never more than max(need, limit) when limit > 0, never below need.
size_t ws_capacity(size_t cap, size_t need, size_t limit);

#endif // WS_CORE_H
