/*
 * The ws_mask module: Python bindings for ws_core.c, the WebSocket frame
 * primitives that the firmware's microdot.websocket runs on.
 *
 * The MIT License (MIT)
 */
#include <string.h>

#include "py/runtime.h"
#include "py/objarray.h"
#include "py/objint.h"
#include "py/objstr.h"
#include "py/smallint.h"
#include "py/binary.h"

// Payload.view() and byteview() make memoryviews.
#if !MICROPY_PY_BUILTINS_MEMORYVIEW
#error "ws_mask needs MICROPY_PY_BUILTINS_MEMORYVIEW"
#endif

#include "ws_core.h"

static NORETURN void ws_mask_raise(int err) {
    switch (err) {
        case WS_ERR_RSV:
            mp_raise_ValueError(MP_ERROR_TEXT("rsv bit set"));
        case WS_ERR_OPCODE:
            mp_raise_ValueError(MP_ERROR_TEXT("reserved opcode"));
        case WS_ERR_CONTROL_FIN:
            mp_raise_ValueError(MP_ERROR_TEXT("fragmented control frame"));
        case WS_ERR_CONTROL_LENGTH:
            mp_raise_ValueError(MP_ERROR_TEXT("control frame too long"));
        case WS_ERR_LENGTH:
            mp_raise_ValueError(MP_ERROR_TEXT("length too large"));
        default:
            mp_raise_ValueError(MP_ERROR_TEXT("buffer too small"));
    }
}

// The 4 bytes of a key argument.
static const uint8_t *ws_mask_get_key(mp_obj_t key_in) {
    mp_buffer_info_t key;
    mp_get_buffer_raise(key_in, &key, MP_BUFFER_READ);
    if (key.len != 4) {
        mp_raise_ValueError(MP_ERROR_TEXT("key must be 4 bytes"));
    }
    return key.buf;
}

// Narrow `buf` to buf[start:end]: 0 <= start <= end <= len(buf), end None
// for len(buf). Offsets count bytes whatever the buffer's item size.
static void ws_mask_narrow(mp_buffer_info_t *buf, mp_int_t start, mp_obj_t end_in) {
    mp_int_t end = (mp_int_t)buf->len;
    if (end_in != mp_const_none) {
        end = mp_obj_get_int(end_in);
    }
    if (start < 0 || start > end || (size_t)end > buf->len) {
        mp_raise_ValueError(MP_ERROR_TEXT("start/end out of range"));
    }
    buf->buf = (uint8_t *)buf->buf + start;
    buf->len = (size_t)(end - start);
}

// The functions taking keywords declare no minimum of positional arguments
// (0 in MP_DEFINE_CONST_FUN_OBJ_KW): their required arguments may be given
// by keyword, e.g. mask(buf=b, key=k), and mp_arg_parse_all() checks them,
// as for vfs.mount().

// mask(buf, key, offset=0, start=0, end=None) -> (offset + end - start) & 3
static mp_obj_t ws_mask_mask(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_buf, ARG_key, ARG_offset, ARG_start, ARG_end };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_buf, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_key, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_offset, MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_start, MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_end, MP_ARG_OBJ, {.u_obj = mp_const_none} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[ARG_buf].u_obj, &buf, MP_BUFFER_WRITE);
    const uint8_t *key = ws_mask_get_key(args[ARG_key].u_obj);
    mp_int_t offset = args[ARG_offset].u_int;
    if (offset < 0 || offset > 3) {
        mp_raise_ValueError(MP_ERROR_TEXT("offset must be 0-3"));
    }
    ws_mask_narrow(&buf, args[ARG_start].u_int, args[ARG_end].u_obj);
    return MP_OBJ_NEW_SMALL_INT(ws_mask(buf.buf, buf.len, key, (unsigned)offset));
}
static MP_DEFINE_CONST_FUN_OBJ_KW(ws_mask_mask_obj, 0, ws_mask_mask);

// The header at buf[start:end] for parse_header() and header(): its length
// and fields, or 0 when more bytes are needed.
static int ws_mask_parse(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args, ws_header_t *hdr) {
    enum { ARG_buf, ARG_start, ARG_end };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_buf, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_start, MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_end, MP_ARG_OBJ, {.u_obj = mp_const_none} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[ARG_buf].u_obj, &buf, MP_BUFFER_READ);
    ws_mask_narrow(&buf, args[ARG_start].u_int, args[ARG_end].u_obj);
    int n = ws_parse_header(buf.buf, buf.len, hdr);
    if (n < 0) {
        ws_mask_raise(n);
    }
    return n;
}

// parse_header(buf, start=0, end=None)
//     -> None | (fin, opcode, masked, length, header_len)
static mp_obj_t ws_mask_parse_header(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    ws_header_t hdr;
    if (ws_mask_parse(n_args, pos_args, kw_args, &hdr) == 0) {
        return mp_const_none;
    }
    // A length above the small-int range (2**30 on 32-bit ports) is a big
    // int; mp_obj_new_int_from_ull always allocates one, so only then.
    mp_obj_t length = hdr.length <= (uint64_t)MP_SMALL_INT_MAX
        ? MP_OBJ_NEW_SMALL_INT((mp_int_t)hdr.length)
        : mp_obj_new_int_from_ull(hdr.length);
    mp_obj_t items[5] = {
        mp_obj_new_bool(hdr.fin),
        MP_OBJ_NEW_SMALL_INT(hdr.opcode),
        mp_obj_new_bool(hdr.masked),
        length,
        MP_OBJ_NEW_SMALL_INT(hdr.header_len),
    };
    return mp_obj_new_tuple(5, items);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(ws_mask_parse_header_obj, 0, ws_mask_parse_header);

// The fields of header() in one int: opcode in bits 0-3, header length in
// bits 4-7, FIN bit 8, MASK bit 9, the payload length from bit 10 on.
#define WS_MASK_FIN (0x100)
#define WS_MASK_MASKED (0x200)
#define WS_MASK_LENGTH_SHIFT (10)

// header(buf, start=0, end=None) -> 0 | the fields packed in an int
static mp_obj_t ws_mask_header(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    ws_header_t hdr;
    if (ws_mask_parse(n_args, pos_args, kw_args, &hdr) == 0) {
        return MP_OBJ_NEW_SMALL_INT(0);
    }
    mp_uint_t fields = hdr.opcode | (mp_uint_t)hdr.header_len << 4
        | (hdr.fin ? WS_MASK_FIN : 0) | (hdr.masked ? WS_MASK_MASKED : 0);
    // A small int (no allocation) below 2**20 bytes of payload on 32-bit
    // ports, 2**52 on 64-bit ones; a big int beyond.
    if (hdr.length <= (uint64_t)(MP_SMALL_INT_MAX >> WS_MASK_LENGTH_SHIFT)) {
        return MP_OBJ_NEW_SMALL_INT((mp_int_t)(hdr.length << WS_MASK_LENGTH_SHIFT | fields));
    }
    #if MICROPY_LONGINT_IMPL == MICROPY_LONGINT_IMPL_MPZ
    // length << 10 | fields needs up to 73 bits: 10 bytes, big-endian.
    uint8_t bytes[10];
    uint64_t low = hdr.length << WS_MASK_LENGTH_SHIFT | fields;
    uint64_t high = hdr.length >> (64 - WS_MASK_LENGTH_SHIFT);
    bytes[0] = (uint8_t)(high >> 8);
    bytes[1] = (uint8_t)high;
    for (size_t i = 0; i < 8; i++) {
        bytes[2 + i] = (uint8_t)(low >> (56 - 8 * i));
    }
    return mp_obj_int_from_bytes_impl(true, sizeof(bytes), bytes);
    #else
    if (hdr.length >> (63 - WS_MASK_LENGTH_SHIFT)) {
        mp_raise_msg(&mp_type_OverflowError, MP_ERROR_TEXT("length too large"));
    }
    return mp_obj_new_int_from_ull(hdr.length << WS_MASK_LENGTH_SHIFT | fields);
    #endif
}
static MP_DEFINE_CONST_FUN_OBJ_KW(ws_mask_header_obj, 0, ws_mask_header);

// A payload length: a non-negative int, small or big.
static uint64_t ws_mask_get_length(mp_obj_t length_in) {
    if (mp_obj_is_small_int(length_in)) {
        mp_int_t length = MP_OBJ_SMALL_INT_VALUE(length_in);
        if (length < 0) {
            mp_raise_ValueError(MP_ERROR_TEXT("negative length"));
        }
        return (uint64_t)length;
    }
    if (!mp_obj_is_exact_type(length_in, &mp_type_int)) {
        // bool, or a TypeError for anything that is not an int.
        return (uint64_t)mp_obj_get_int(length_in);
    }
    if (mp_obj_int_sign(length_in) < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("negative length"));
    }
    uint8_t bytes[8];
    if (!mp_obj_int_to_bytes_impl(length_in, false, sizeof(bytes), bytes)) {
        mp_raise_ValueError(MP_ERROR_TEXT("length too large"));
    }
    uint64_t length = 0;
    for (size_t i = sizeof(bytes); i > 0; i--) {
        length = length << 8 | bytes[i - 1];
    }
    return length;
}

// build_header(buf, opcode, length, fin=True, key=None) -> header length
static mp_obj_t ws_mask_build_header(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_buf, ARG_opcode, ARG_length, ARG_fin, ARG_key };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_buf, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_opcode, MP_ARG_REQUIRED | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_length, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_fin, MP_ARG_BOOL, {.u_bool = true} },
        { MP_QSTR_key, MP_ARG_OBJ, {.u_obj = mp_const_none} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[ARG_buf].u_obj, &buf, MP_BUFFER_WRITE);
    mp_int_t opcode = args[ARG_opcode].u_int;
    if (opcode < 0 || opcode > 0xf) {
        mp_raise_ValueError(MP_ERROR_TEXT("reserved opcode"));
    }
    uint64_t length = ws_mask_get_length(args[ARG_length].u_obj);
    const uint8_t *key = NULL;
    if (args[ARG_key].u_obj != mp_const_none) {
        key = ws_mask_get_key(args[ARG_key].u_obj);
    }
    int n = ws_build_header(buf.buf, buf.len, (unsigned)opcode, length,
        args[ARG_fin].u_bool, key);
    if (n < 0) {
        ws_mask_raise(n);
    }
    return MP_OBJ_NEW_SMALL_INT(n);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(ws_mask_build_header_obj, 0, ws_mask_build_header);

// utf8_validate(buf, state=0, start=0, end=None)
//     -> 0 complete, > 0 inside a code point, -1 invalid
static mp_obj_t ws_mask_utf8_validate(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_buf, ARG_state, ARG_start, ARG_end };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_buf, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_state, MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_start, MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_end, MP_ARG_OBJ, {.u_obj = mp_const_none} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[ARG_buf].u_obj, &buf, MP_BUFFER_READ);
    mp_int_t state = args[ARG_state].u_int;
    if (state < 0 || state >= WS_UTF8_STATES) {
        mp_raise_ValueError(MP_ERROR_TEXT("invalid utf8 state"));
    }
    ws_mask_narrow(&buf, args[ARG_start].u_int, args[ARG_end].u_obj);
    return MP_OBJ_NEW_SMALL_INT(ws_utf8_validate(buf.buf, buf.len, (int)state));
}
static MP_DEFINE_CONST_FUN_OBJ_KW(ws_mask_utf8_validate_obj, 0, ws_mask_utf8_validate);

// byteview(obj) -> obj if its items are bytes, else a memoryview of its
// bytes. len() of a memoryview or an array counts items, and a slice of one
// is made of items: a frame of such a buffer would announce a wrong length.
// The view points into obj's buffer, but the collector keeps a buffer alive
// only through a pointer to its start: the caller must keep obj referenced
// while it uses the view.
static mp_obj_t ws_mask_byteview(mp_obj_t obj) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(obj, &buf, MP_BUFFER_READ);
    int typecode = buf.typecode & 0x7f;   // without the read-write flag
    if (typecode == 'B' || typecode == 'b' || typecode == BYTEARRAY_TYPECODE) {
        return obj;
    }
    return mp_obj_new_memoryview('B', buf.len, buf.buf);
}
static MP_DEFINE_CONST_FUN_OBJ_1(ws_mask_byteview_obj, ws_mask_byteview);

static NORETURN void ws_mask_raise_type(void) {
    mp_raise_TypeError(MP_ERROR_TEXT("type must be bytes, str or bytearray"));
}

// copy(buf, start=0, end=None, type=bytes) -> a new bytes, str or bytearray
static mp_obj_t ws_mask_copy(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_buf, ARG_start, ARG_end, ARG_type };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_buf, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_start, MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_end, MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_type, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_PTR(&mp_type_bytes)} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[ARG_buf].u_obj, &buf, MP_BUFFER_READ);
    ws_mask_narrow(&buf, args[ARG_start].u_int, args[ARG_end].u_obj);
    mp_obj_t type = args[ARG_type].u_obj;
    if (type == MP_OBJ_FROM_PTR(&mp_type_bytes)) {
        return mp_obj_new_bytes(buf.buf, buf.len);
    } else if (type == MP_OBJ_FROM_PTR(&mp_type_bytearray)) {
        return mp_obj_new_bytearray(buf.len, buf.buf);
    } else if (type != MP_OBJ_FROM_PTR(&mp_type_str)) {
        ws_mask_raise_type();
    }
    // Validated here, once: the str is made without a second check.
    if (ws_utf8_validate(buf.buf, buf.len, WS_UTF8_ACCEPT) != WS_UTF8_ACCEPT) {
        mp_raise_ValueError(MP_ERROR_TEXT("invalid utf-8"));
    }
    vstr_t vstr;
    vstr_init_len(&vstr, buf.len);
    memcpy(vstr.buf, buf.buf, buf.len);
    return mp_obj_new_str_from_utf8_vstr(&vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(ws_mask_copy_obj, 0, ws_mask_copy);

// Payload: a buffer for one message that becomes its bytes, str or
// bytearray without a copy. The data is a vstr-style allocation of len + 1
// bytes or more (room for the 0 that MicroPython puts after a str's data),
// handed over to the object take() makes.
typedef struct _ws_mask_payload_obj_t {
    mp_obj_base_t base;
    uint8_t *buf;           // NULL once taken
    size_t len;             // the bytes the buffer protocol exposes
    size_t cap;             // bytes allocated, less the one for the 0
    size_t checked;         // buf[0:checked] validated as UTF-8 ...
    int state;              // ... ending in this state
    mp_obj_array_t *view;   // the memoryview view() returns, or NULL
} ws_mask_payload_obj_t;

static ws_mask_payload_obj_t *ws_mask_payload_get(mp_obj_t self_in) {
    ws_mask_payload_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->buf == NULL) {
        mp_raise_ValueError(MP_ERROR_TEXT("payload already taken"));
    }
    return self;
}

// Point view() elsewhere: the old memoryview becomes empty and read-only,
// so that a stale one cannot reach memory the payload no longer owns.
static void ws_mask_payload_drop_view(ws_mask_payload_obj_t *self) {
    if (self->view != NULL) {
        mp_obj_memoryview_init(self->view, 'B', 0, 0, NULL);
    }
}

// Payload(size)
static mp_obj_t ws_mask_payload_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, 1, false);
    mp_int_t size = mp_obj_get_int(args[0]);
    if (size < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("negative size"));
    }
    ws_mask_payload_obj_t *self = mp_obj_malloc(ws_mask_payload_obj_t, type);
    self->buf = m_new(uint8_t, (size_t)size + 1);
    self->len = self->cap = (size_t)size;
    self->checked = 0;
    self->state = WS_UTF8_ACCEPT;
    self->view = NULL;
    return MP_OBJ_FROM_PTR(self);
}

// len(payload); a payload taken has length 0.
static mp_obj_t ws_mask_payload_unary_op(mp_unary_op_t op, mp_obj_t self_in) {
    ws_mask_payload_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (op == MP_UNARY_OP_LEN) {
        return MP_OBJ_NEW_SMALL_INT(self->len);
    }
    return MP_OBJ_NULL;
}

static mp_int_t ws_mask_payload_get_buffer(mp_obj_t self_in, mp_buffer_info_t *bufinfo, mp_uint_t flags) {
    (void)flags;
    ws_mask_payload_obj_t *self = ws_mask_payload_get(self_in);
    bufinfo->buf = self->buf;
    bufinfo->len = self->len;
    bufinfo->typecode = 'B';
    return 0;
}

// view(start=0, end=None) -> memoryview of payload[start:end], always the
// same object: no allocation after the first call
static mp_obj_t ws_mask_payload_view(size_t n_args, const mp_obj_t *args) {
    ws_mask_payload_obj_t *self = ws_mask_payload_get(args[0]);
    mp_buffer_info_t buf = { .buf = self->buf, .len = self->len };
    ws_mask_narrow(&buf, n_args > 1 ? mp_obj_get_int(args[1]) : 0,
        n_args > 2 ? args[2] : mp_const_none);
    if (self->view == NULL) {
        self->view = m_new_obj(mp_obj_array_t);
    }
    // Items at the start of the allocation, where the GC can trace them;
    // the offset field has 24 bits on 32-bit ports (16 MiB).
    size_t start = (size_t)((uint8_t *)buf.buf - self->buf);
    if (start >> MP_OBJ_ARRAY_FREE_SIZE_BITS) {
        mp_raise_ValueError(MP_ERROR_TEXT("start/end out of range"));
    }
    mp_obj_memoryview_init(self->view, 'B' | MP_OBJ_ARRAY_TYPECODE_FLAG_RW,
        start, buf.len, self->buf);
    return MP_OBJ_FROM_PTR(self->view);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ws_mask_payload_view_obj, 1, 3, ws_mask_payload_view);

// Lengthen the payload to `need` bytes, keeping the data.
static void ws_mask_payload_resize(ws_mask_payload_obj_t *self, size_t need, mp_int_t limit) {
    if (limit < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("negative size"));
    }
    if (need > self->cap) {
        // Amortised room if the heap has it, else exactly what is needed.
        // gc_realloc() extends in place when the blocks after are free and
        // otherwise moves the data, freeing the old blocks.
        size_t cap = ws_capacity(self->cap, need, (size_t)limit);
        uint8_t *buf = m_renew_maybe(uint8_t, self->buf, self->cap + 1, cap + 1, true);
        if (buf == NULL && cap > need) {
            cap = need;
            buf = m_renew_maybe(uint8_t, self->buf, self->cap + 1, cap + 1, true);
        }
        if (buf == NULL) {
            m_malloc_fail(cap + 1);
        }
        ws_mask_payload_drop_view(self);
        self->buf = buf;
        self->cap = cap;
    }
    self->len = need;
}

// grow(size, limit=0): lengthen to `size` bytes, keeping the data
static mp_obj_t ws_mask_payload_grow(size_t n_args, const mp_obj_t *args) {
    ws_mask_payload_obj_t *self = ws_mask_payload_get(args[0]);
    mp_int_t size = mp_obj_get_int(args[1]);
    mp_int_t limit = n_args > 2 ? mp_obj_get_int(args[2]) : 0;
    if (size < (mp_int_t)self->len) {
        mp_raise_ValueError(MP_ERROR_TEXT("cannot shrink"));
    }
    ws_mask_payload_resize(self, (size_t)size, limit);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ws_mask_payload_grow_obj, 2, 3, ws_mask_payload_grow);

// append(buf, start=0, end=None, limit=0): grow by buf[start:end], copy it in
static mp_obj_t ws_mask_payload_append(size_t n_args, const mp_obj_t *args) {
    ws_mask_payload_obj_t *self = ws_mask_payload_get(args[0]);
    mp_int_t start = n_args > 2 ? mp_obj_get_int(args[2]) : 0;
    mp_obj_t end = n_args > 3 ? args[3] : mp_const_none;
    mp_int_t limit = n_args > 4 ? mp_obj_get_int(args[4]) : 0;
    mp_buffer_info_t src;
    mp_get_buffer_raise(args[1], &src, MP_BUFFER_READ);
    ws_mask_narrow(&src, start, end);
    size_t at = self->len;
    size_t n = src.len;
    // A source inside this payload (its view(), a memoryview of it) may
    // move with it when it grows, and its view is emptied then: keep the
    // offset. Any other source stays where it is (args[1] holds it).
    const uint8_t *from = src.buf;
    size_t inside = from >= self->buf && from < self->buf + self->cap + 1;
    size_t off = (size_t)(from - self->buf);
    ws_mask_payload_resize(self, at + n, limit);
    if (inside) {
        from = self->buf + off;
    }
    memmove(self->buf + at, from, n);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ws_mask_payload_append_obj, 2, 5, ws_mask_payload_append);

// utf8_validate(end=None) -> state: validate payload[checked:end], going on
// from where the last call stopped
static mp_obj_t ws_mask_payload_utf8_validate(size_t n_args, const mp_obj_t *args) {
    ws_mask_payload_obj_t *self = ws_mask_payload_get(args[0]);
    mp_buffer_info_t buf = { .buf = self->buf, .len = self->len };
    ws_mask_narrow(&buf, (mp_int_t)self->checked, n_args > 1 ? args[1] : mp_const_none);
    if (self->state != WS_UTF8_REJECT) {
        self->state = ws_utf8_validate(buf.buf, buf.len, self->state);
    }
    self->checked += buf.len;
    return MP_OBJ_NEW_SMALL_INT(self->state);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ws_mask_payload_utf8_validate_obj, 1, 2, ws_mask_payload_utf8_validate);

// The longest str that can equal an interned one (a qstr).
#define WS_MASK_QSTR_MAX (((size_t)1 << (8 * MICROPY_QSTR_BYTES_IN_LEN)) - 1)

// A str or bytes around vstr's data. MicroPython's own constructors pass
// over the data to compute its hash (and, for a str, again to look for an
// interned equal): for a payload too long to be interned the hash is left
// to be computed when first needed, as MicroPython does for exception
// messages (a hash of 0 means "not computed": hash() and dict lookups
// compute it, and comparisons do not rely on it).
static mp_obj_t ws_mask_payload_str(const mp_obj_type_t *type, vstr_t *vstr) {
    if (vstr->len <= WS_MASK_QSTR_MAX) {
        return type == &mp_type_str ? mp_obj_new_str_from_utf8_vstr(vstr)
            : mp_obj_new_bytes_from_vstr(vstr);
    }
    byte *data = m_renew(byte, (byte *)vstr->buf, vstr->alloc, vstr->len + 1);
    data[vstr->len] = '\0';   // as MicroPython ends every str and bytes
    mp_obj_str_t *o = mp_obj_malloc(mp_obj_str_t, type);
    o->len = vstr->len;
    o->hash = 0;
    o->data = data;
    return MP_OBJ_FROM_PTR(o);
}

// take(type=bytes) -> the data as a bytes, str or bytearray, not copied
static mp_obj_t ws_mask_payload_take(size_t n_args, const mp_obj_t *args) {
    ws_mask_payload_obj_t *self = ws_mask_payload_get(args[0]);
    mp_obj_t type = n_args > 1 ? args[1] : MP_OBJ_FROM_PTR(&mp_type_bytes);
    bool text = type == MP_OBJ_FROM_PTR(&mp_type_str);
    if (!text && type != MP_OBJ_FROM_PTR(&mp_type_bytes)
        && type != MP_OBJ_FROM_PTR(&mp_type_bytearray)) {
        ws_mask_raise_type();
    }
    if (text) {
        // Only what utf8_validate() has not seen yet is checked now.
        if (self->state != WS_UTF8_REJECT) {
            self->state = ws_utf8_validate(self->buf + self->checked,
                self->len - self->checked, self->state);
        }
        self->checked = self->len;
        if (self->state != WS_UTF8_ACCEPT) {
            mp_raise_ValueError(MP_ERROR_TEXT("invalid utf-8"));
        }
    }
    // The payload lets go of the data first: whatever happens below, it
    // never refers to memory it may no longer own.
    vstr_t vstr = {
        .alloc = self->cap + 1,
        .len = self->len,
        .buf = (char *)self->buf,
        .fixed_buf = false,
    };
    ws_mask_payload_drop_view(self);
    self->buf = NULL;
    self->len = self->cap = self->checked = 0;
    // The allocation shrinks to len + 1 in place (no copy) and the object
    // is made around it; a str is not validated a second time.
    if (type == MP_OBJ_FROM_PTR(&mp_type_bytearray)) {
        uint8_t *data = m_renew(uint8_t, (uint8_t *)vstr.buf, vstr.alloc, vstr.len + 1);
        return mp_obj_new_bytearray_by_ref(vstr.len, data);
    }
    return ws_mask_payload_str(MP_OBJ_TO_PTR(type), &vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ws_mask_payload_take_obj, 1, 2, ws_mask_payload_take);

static const mp_rom_map_elem_t ws_mask_payload_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_view), MP_ROM_PTR(&ws_mask_payload_view_obj) },
    { MP_ROM_QSTR(MP_QSTR_grow), MP_ROM_PTR(&ws_mask_payload_grow_obj) },
    { MP_ROM_QSTR(MP_QSTR_append), MP_ROM_PTR(&ws_mask_payload_append_obj) },
    { MP_ROM_QSTR(MP_QSTR_utf8_validate), MP_ROM_PTR(&ws_mask_payload_utf8_validate_obj) },
    { MP_ROM_QSTR(MP_QSTR_take), MP_ROM_PTR(&ws_mask_payload_take_obj) },
};
static MP_DEFINE_CONST_DICT(ws_mask_payload_locals_dict, ws_mask_payload_locals_dict_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    ws_mask_type_payload,
    MP_QSTR_Payload,
    MP_TYPE_FLAG_NONE,
    make_new, ws_mask_payload_make_new,
    unary_op, ws_mask_payload_unary_op,
    buffer, ws_mask_payload_get_buffer,
    locals_dict, &ws_mask_payload_locals_dict
    );

static const mp_rom_map_elem_t ws_mask_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_ws_mask) },
    { MP_ROM_QSTR(MP_QSTR_mask), MP_ROM_PTR(&ws_mask_mask_obj) },
    { MP_ROM_QSTR(MP_QSTR_parse_header), MP_ROM_PTR(&ws_mask_parse_header_obj) },
    { MP_ROM_QSTR(MP_QSTR_build_header), MP_ROM_PTR(&ws_mask_build_header_obj) },
    { MP_ROM_QSTR(MP_QSTR_utf8_validate), MP_ROM_PTR(&ws_mask_utf8_validate_obj) },
    { MP_ROM_QSTR(MP_QSTR_byteview), MP_ROM_PTR(&ws_mask_byteview_obj) },
    { MP_ROM_QSTR(MP_QSTR_header), MP_ROM_PTR(&ws_mask_header_obj) },
    { MP_ROM_QSTR(MP_QSTR_copy), MP_ROM_PTR(&ws_mask_copy_obj) },
    { MP_ROM_QSTR(MP_QSTR_Payload), MP_ROM_PTR(&ws_mask_type_payload) },
};
static MP_DEFINE_CONST_DICT(ws_mask_module_globals, ws_mask_module_globals_table);

const mp_obj_module_t ws_mask_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&ws_mask_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_ws_mask, ws_mask_user_cmodule);
