/*
 * The ws_mask module: Python bindings for ws_core.c, the WebSocket frame
 * primitives that the firmware's microdot.websocket runs on.
 *
 * The MIT License (MIT)
 */
#include "py/runtime.h"
#include "py/objint.h"
#include "py/smallint.h"
#include "py/binary.h"

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

// The functions taking keywords declare no minimum of positional arguments
// (0 in MP_DEFINE_CONST_FUN_OBJ_KW): their required arguments may be given
// by keyword, e.g. mask(buf=b, key=k), and mp_arg_parse_all() checks them,
// as for vfs.mount().

// mask(buf, key, offset=0) -> (offset + len(buf)) & 3
static mp_obj_t ws_mask_mask(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_buf, ARG_key, ARG_offset };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_buf, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_key, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_offset, MP_ARG_INT, {.u_int = 0} },
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
    return MP_OBJ_NEW_SMALL_INT(ws_mask(buf.buf, buf.len, key, (unsigned)offset));
}
static MP_DEFINE_CONST_FUN_OBJ_KW(ws_mask_mask_obj, 0, ws_mask_mask);

// parse_header(buf) -> None | (fin, opcode, masked, length, header_len)
static mp_obj_t ws_mask_parse_header(mp_obj_t buf_in) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(buf_in, &buf, MP_BUFFER_READ);
    ws_header_t hdr;
    int n = ws_parse_header(buf.buf, buf.len, &hdr);
    if (n < 0) {
        ws_mask_raise(n);
    } else if (n == 0) {
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
static MP_DEFINE_CONST_FUN_OBJ_1(ws_mask_parse_header_obj, ws_mask_parse_header);

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

// utf8_validate(buf, state=0) -> 0 complete, > 0 inside a code point, -1 invalid
static mp_obj_t ws_mask_utf8_validate(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_buf, ARG_state };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_buf, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_state, MP_ARG_INT, {.u_int = 0} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[ARG_buf].u_obj, &buf, MP_BUFFER_READ);
    mp_int_t state = args[ARG_state].u_int;
    if (state < 0 || state >= WS_UTF8_STATES) {
        mp_raise_ValueError(MP_ERROR_TEXT("invalid utf8 state"));
    }
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

static const mp_rom_map_elem_t ws_mask_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_ws_mask) },
    { MP_ROM_QSTR(MP_QSTR_mask), MP_ROM_PTR(&ws_mask_mask_obj) },
    { MP_ROM_QSTR(MP_QSTR_parse_header), MP_ROM_PTR(&ws_mask_parse_header_obj) },
    { MP_ROM_QSTR(MP_QSTR_build_header), MP_ROM_PTR(&ws_mask_build_header_obj) },
    { MP_ROM_QSTR(MP_QSTR_utf8_validate), MP_ROM_PTR(&ws_mask_utf8_validate_obj) },
    { MP_ROM_QSTR(MP_QSTR_byteview), MP_ROM_PTR(&ws_mask_byteview_obj) },
};
static MP_DEFINE_CONST_DICT(ws_mask_module_globals, ws_mask_module_globals_table);

const mp_obj_module_t ws_mask_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&ws_mask_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_ws_mask, ws_mask_user_cmodule);
