// MicroPython configuration for compiling usermod/ws_mask for Xtensa: a
// 32-bit port with the core settings of the ESP ports that matter to the
// module (feature level, MPZ long ints, compressed error messages).
#include <stdint.h>

#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#define MICROPY_LONGINT_IMPL (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_FLOAT_IMPL (MICROPY_FLOAT_IMPL_FLOAT)
#define MICROPY_ERROR_REPORTING (MICROPY_ERROR_REPORTING_NORMAL)
#define MICROPY_ENABLE_GC (1)
#define MICROPY_PY_SYS_STDFILES (0)
#define MICROPY_HW_BOARD_NAME "xtensa-check"
#define MICROPY_HW_MCU_NAME "lx106"
#define MICROPY_PY_SYS_PLATFORM "xtensa"

typedef int32_t mp_int_t; // must be pointer size
typedef uint32_t mp_uint_t; // must be pointer size
typedef long mp_off_t;

#define MP_SSIZE_MAX (0x7fffffff)
#define MP_STATE_PORT MP_STATE_VM

#include <alloca.h>
