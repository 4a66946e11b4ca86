# QEMU mps2-an385 (Cortex-M3) as strict about alignment as the ESP32.
#
# The upstream board, plus two changes so that the emulated core traps on an
# unaligned word or halfword access the way the ESP32's Xtensa core does:
#   * -mno-unaligned-access: the compiler itself never emits an unaligned
#     load or store (memcpy of a word from a byte pointer becomes byte
#     loads, as on Xtensa), so correct C code never trips the trap;
#   * SCB->CCR.UNALIGN_TRP (bit 3 of 0xE000ED14) set by mp_init() on every
#     (soft) reset, so a C cast such as *(uint32_t *)p with p misaligned
#     raises a UsageFault instead of quietly working as a Cortex-M3 would.
# Used by `make qemu` through the port's BOARD_DIR; nothing here is product
# code.
include boards/MPS2_AN385/mpconfigboard.mk

CFLAGS += -mno-unaligned-access
CFLAGS += '-DMICROPY_PORT_INIT_FUNC=(*(volatile uint32_t *)0xE000ED14 |= 1 << 3)'
