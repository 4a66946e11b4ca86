# ESP32-CAM MicroPython firmware with a C-accelerated Microdot WebSocket layer.
#
# One entry point; the steps live in ci/. `make help` lists the targets.

MICROPY_VERSION ?= 1.25.0
MICRODOT_VERSION ?= 2.7.0

BUILD := $(CURDIR)/build
VENV := $(BUILD)/venv
PYTHON := $(VENV)/bin/python

# A MicroPython source tree. By default the pinned version is fetched into
# build/; pass MICROPY_DIR=/path/to/micropython to use your own checkout.
MICROPY_DEFAULT_DIR := $(BUILD)/micropython-$(MICROPY_VERSION)
MICROPY_DIR ?= $(MICROPY_DEFAULT_DIR)
override MICROPY_DIR := $(abspath $(MICROPY_DIR))

MICRODOT_DIR := $(BUILD)/microdot
MPY_CROSS := $(BUILD)/mpy-cross/mpy-cross
UNIX_FIRMWARE := $(BUILD)/unix/micropython

# `make run` serves on this port.
HTTP_PORT ?= 8080

# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k handshake -x"`.
PYTEST_ARGS ?=

# `make fuzz` runs each libFuzzer target of ws_mask this long.
FUZZ_SECONDS ?= 60

# Benchmarks `make bench` runs (default: every bench/bench_*.py).
BENCH ?=

export BUILD_DIR := $(BUILD)

.DEFAULT_GOAL := unix
.PHONY: help deps micropython microdot venv mpy-cross unix run test docs clean distclean
.PHONY: firmware deploy erase repl fuzz xtensa-check bench qemu qemu-repl

help:
	@echo "Targets:"
	@echo "  unix         build/unix/micropython: the unix port of this firmware (default)"
	@echo "  run          build it and serve the camera demo at http://localhost:$(HTTP_PORT) (HTTP_PORT=)"
	@echo "  test         build what the tests need and run them (PYTEST_ARGS=)"
	@echo "  qemu         build/qemu/firmware.elf: this firmware on an emulated Cortex-M3"
	@echo "  qemu-repl    run it in qemu-system-arm with its UART on a PTY, for mpremote"
	@echo "  docs         build/docs/html: the Sphinx documentation (warnings are errors)"
	@echo "  deps         install every Debian package the targets use (root), or print the command"
	@echo "  micropython  fetch MicroPython $(MICROPY_VERSION) into build/ (or check MICROPY_DIR)"
	@echo "  microdot     unpack upstream Microdot $(MICRODOT_VERSION) from PyPI into build/microdot"
	@echo "  venv         build/venv with the pinned host tools (requirements.txt)"
	@echo "  mpy-cross    build/mpy-cross/mpy-cross"
	@echo "  firmware     build/esp32/firmware.bin for the ESP32-CAM (ESP32_SDK= or IDF_PATH=, MICROPY_DIR=, CAMERA_API_DIR=)"
	@echo "  deploy       write it to a board: make deploy PORT=/dev/ttyUSB0 (BAUD=$(BAUD), ESP32_FIRMWARE=)"
	@echo "  erase        erase a board's whole flash (PORT=)"
	@echo "  repl         MicroPython REPL of a board over mpremote (PORT=)"
	@echo "  fuzz         fuzz ws_mask's C core, FUZZ_SECONDS=$(FUZZ_SECONDS) per target (clang)"
	@echo "  xtensa-check compile ws_mask with xtensa-lx106-elf-gcc -Werror, print code sizes"
	@echo "  bench        run the benchmarks (BENCH=bench/bench_mask.py for one); output in build/bench/"
	@echo "  clean        remove build products, keep fetched sources and the venv"
	@echo "  distclean    remove build/ entirely"
	@echo "Variables: MICROPY_DIR=$(MICROPY_DIR)"

deps:
	@ci/deps.sh all

# --- sources ----------------------------------------------------------------

# The default location is fetched into; a tree of your own is only checked.
micropython:
ifeq ($(MICROPY_DIR),$(MICROPY_DEFAULT_DIR))
	@ci/fetch-micropython.sh $(MICROPY_VERSION) $(MICROPY_DIR)
else
	@test -f $(MICROPY_DIR)/py/mpconfig.h || \
	  { echo "error: MICROPY_DIR=$(MICROPY_DIR) is not a MicroPython tree (no py/mpconfig.h)" >&2; exit 1; }
	@ci/fetch-micropython.sh $(MICROPY_VERSION) $(MICROPY_DIR)
endif

microdot:
	@ci/fetch-microdot.sh $(MICRODOT_VERSION) $(MICRODOT_DIR)

venv:
	@ci/venv.sh $(VENV) requirements.txt constraints.txt

# --- unix firmware ----------------------------------------------------------

# Built outside the MicroPython tree, so a user's checkout stays clean; the
# ports are told where it is and not to build their own.
MPY_CROSS_ARGS := MICROPY_MPYCROSS=$(MPY_CROSS) MICROPY_MPYCROSS_DEPENDENCY=

mpy-cross: micropython
	@$(MAKE) -s -C $(MICROPY_DIR)/mpy-cross BUILD=$(BUILD)/mpy-cross BUILD_VERBOSE=0

UNIX_ARGS := \
	BUILD=$(BUILD)/unix PROG=micropython \
	USER_C_MODULES=$(CURDIR)/usermod \
	FROZEN_MANIFEST=$(CURDIR)/firmware/manifest.py \
	MICROPY_SSL_MBEDTLS=1 MICROPY_SSL_AXTLS=0 \
	MICROPY_PY_BTREE=0 MICROPY_PY_FFI=0 \
	$(MPY_CROSS_ARGS)

unix: mpy-cross microdot
	@ci/deps.sh unix
	@$(MAKE) -s -C $(MICROPY_DIR)/ports/unix $(UNIX_ARGS) BUILD_VERBOSE=0

# The camera demo (examples/camera_ws) with its synthetic frames.
run: unix
	@echo "Serving the camera demo on http://localhost:$(HTTP_PORT)/ (Ctrl-C stops)"
	@$(UNIX_FIRMWARE) examples/camera_ws/main.py --port $(HTTP_PORT)

# --- ESP32-CAM firmware ----------------------------------------------------

# `make firmware` builds firmware/boards/ESP32_CAM with ESP-IDF (IDF_PATH)
# against a MicroPython git checkout (MICROPY_DIR), optionally with the
# micropython-camera-API driver (CAMERA_API_DIR); ci/esp32-firmware.sh checks
# the prerequisites and runs the port's build out of tree. deploy, erase and
# repl talk to a board on the serial port PORT with the venv's esptool and
# mpremote.
CAMERA_API_DIR ?=
ESP32_FIRMWARE ?= $(BUILD)/esp32/firmware.bin
# An ESP32 SDK folder (an unpacked SDK bundle: docs/topics/esp32-sdk.rst);
# without it and IDF_PATH, the cache's SDK when there is one. ESP32_JOBS=
# limits the compile jobs of an SDK build.
ESP32_SDK ?=
ESP32_JOBS ?=
PORT ?=
BAUD ?= 460800
ESPTOOL = $(PYTHON) -m esptool --chip esp32 --port $(PORT) --baud $(BAUD)

ESP32_PORT_GOALS := $(filter deploy erase repl,$(MAKECMDGOALS))
ifneq ($(ESP32_PORT_GOALS),)
ifeq ($(strip $(PORT)),)
$(error PORT is not set: name the board's serial port, e.g. `make $(firstword $(ESP32_PORT_GOALS)) PORT=/dev/ttyUSB0` (macOS: /dev/cu.usbserial-*, Windows: COM3))
endif
endif

firmware:
	@MICROPY_DIR=$(MICROPY_DIR) MICROPY_VERSION=$(MICROPY_VERSION) \
	  CAMERA_API_DIR=$(CAMERA_API_DIR) ESP32_SDK=$(ESP32_SDK) ESP32_JOBS=$(ESP32_JOBS) \
	  ci/esp32-firmware.sh

deploy: venv
	@test -f $(ESP32_FIRMWARE) || \
	  { echo "error: $(ESP32_FIRMWARE) not found: run \`make firmware\` first" >&2; exit 1; }
	$(ESPTOOL) write_flash 0x1000 $(ESP32_FIRMWARE)

erase: venv
	$(ESPTOOL) erase_flash

repl: venv
	$(PYTHON) -m mpremote connect $(PORT) repl

# --- qemu firmware ----------------------------------------------------------

# ports/qemu on the emulated mps2-an385 (Cortex-M3) with the C modules and the
# frozen code that need no network (firmware/manifest_qemu.py). The board
# folder is upstream's MPS2_AN385 made to trap on unaligned word access, as
# the ESP32 does.
QEMU_FIRMWARE := $(BUILD)/qemu/firmware.elf

QEMU_MAKE_ARGS := \
	BOARD=MPS2_AN385 BOARD_DIR=$(CURDIR)/firmware/boards/QEMU_MPS2_AN385 \
	BUILD=$(BUILD)/qemu \
	USER_C_MODULES=$(CURDIR)/usermod \
	FROZEN_MANIFEST=$(CURDIR)/firmware/manifest_qemu.py \
	$(MPY_CROSS_ARGS)

qemu: mpy-cross
	@ci/deps.sh qemu
	@$(MAKE) -s -C $(MICROPY_DIR)/ports/qemu $(QEMU_MAKE_ARGS) BUILD_VERBOSE=0

qemu-repl: qemu
	@ci/qemu-repl.sh $(QEMU_FIRMWARE)

# --- tests ------------------------------------------------------------------

# Every Debian package a test needs: Debian's chromium for the browser tests
# (never a downloaded one), clang for the fuzz run, uncrustify for the C
# style check, cmake for the board checks.
test: unix qemu venv xtensa-check
	@ci/deps.sh browser fuzz format esp32
	@MICROPY_UNIX=$(UNIX_FIRMWARE) MICROPY_QEMU=$(QEMU_FIRMWARE) MICROPY_DIR=$(MICROPY_DIR) \
	  $(PYTHON) -m pytest $(PYTEST_ARGS)

# --- ws_mask C core: fuzzing -------------------------------------------------

fuzz:
	@ci/deps.sh fuzz
	@$(MAKE) -s -C fuzz run BUILD=$(BUILD)/fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

# Builds nothing to flash: proves the module compiles warning-free for Xtensa
# and keeps its size in view (ci/xtensa-check/Makefile says how).
xtensa-check: micropython
	@ci/deps.sh xtensa
	@$(MAKE) -s -C ci/xtensa-check BUILD_VERBOSE=0 MICROPY_DIR=$(MICROPY_DIR) \
	  BUILD=$(BUILD)/xtensa-check

# --- benchmarks (never part of `test`) ------------------------------------------

bench: unix venv
	@ci/bench.sh $(UNIX_FIRMWARE) $(PYTHON) $(BENCH)

# --- documentation ----------------------------------------------------------

docs: venv
	@$(VENV)/bin/sphinx-build -q -W --keep-going -b html docs $(BUILD)/docs/html
	@echo "docs: $(BUILD)/docs/html/index.html"

# --- housekeeping -----------------------------------------------------------

clean:
	rm -rf $(BUILD)/unix $(BUILD)/mpy-cross $(BUILD)/qemu $(BUILD)/esp32 \
	  $(BUILD)/fuzz $(BUILD)/xtensa-check $(BUILD)/bench $(BUILD)/docs \
	  $(BUILD)/camera_ws.png

distclean:
	rm -rf $(BUILD)
