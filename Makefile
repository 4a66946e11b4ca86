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
MICROPY_DIR ?= $(BUILD)/micropython-$(MICROPY_VERSION)
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
.PHONY: help deps micropython microdot venv mpy-cross unix run test clean distclean
.PHONY: fuzz xtensa-check bench

help:
	@echo "Targets:"
	@echo "  unix         build/unix/micropython: the unix port of this firmware (default)"
	@echo "  run          build it and serve the demo at http://localhost:$(HTTP_PORT) (HTTP_PORT=)"
	@echo "  test         build what the tests need and run them (PYTEST_ARGS=)"
	@echo "  deps         install every Debian package the targets use (root), or print the command"
	@echo "  micropython  fetch MicroPython $(MICROPY_VERSION) into build/ (or check MICROPY_DIR)"
	@echo "  microdot     unpack upstream Microdot $(MICRODOT_VERSION) from PyPI into build/microdot"
	@echo "  venv         build/venv with the pinned host tools (requirements.txt)"
	@echo "  mpy-cross    build/mpy-cross/mpy-cross"
	@echo "  fuzz         fuzz ws_mask's C core, FUZZ_SECONDS=$(FUZZ_SECONDS) per target (clang)"
	@echo "  xtensa-check compile ws_mask with xtensa-lx106-elf-gcc -Werror, print code sizes"
	@echo "  bench        run the benchmarks (BENCH=bench/bench_mask.py for one); output in build/bench/"
	@echo "  clean        remove build products, keep fetched sources and the venv"
	@echo "  distclean    remove build/ entirely"
	@echo "Variables: MICROPY_DIR=$(MICROPY_DIR)"

deps:
	@ci/deps.sh all

# --- sources ----------------------------------------------------------------

micropython:
ifeq ($(origin MICROPY_DIR),file)
	@ci/fetch-micropython.sh $(MICROPY_VERSION) $(MICROPY_DIR)
else
	@test -f $(MICROPY_DIR)/py/mpconfig.h || \
	  { echo "error: MICROPY_DIR=$(MICROPY_DIR) is not a MicroPython tree (no py/mpconfig.h)" >&2; exit 1; }
	@ci/fetch-micropython.sh $(MICROPY_VERSION) $(MICROPY_DIR)
endif

microdot:
	@ci/fetch-microdot.sh $(MICRODOT_VERSION) $(MICRODOT_DIR)

venv:
	@ci/venv.sh $(VENV) requirements.txt

# --- unix firmware ----------------------------------------------------------

# Built outside the MicroPython tree, so a user's checkout stays clean; the
# ports are told where it is and not to build their own.
MPY_CROSS_ARGS := MICROPY_MPYCROSS=$(MPY_CROSS) MICROPY_MPYCROSS_DEPENDENCY=

mpy-cross: micropython
	@$(MAKE) -s -C $(MICROPY_DIR)/mpy-cross BUILD=$(BUILD)/mpy-cross

UNIX_ARGS := \
	BUILD=$(BUILD)/unix PROG=micropython \
	USER_C_MODULES=$(CURDIR)/usermod \
	FROZEN_MANIFEST=$(CURDIR)/firmware/manifest.py \
	MICROPY_SSL_MBEDTLS=1 MICROPY_SSL_AXTLS=0 \
	MICROPY_PY_BTREE=0 MICROPY_PY_FFI=0 \
	$(MPY_CROSS_ARGS)

unix: mpy-cross microdot
	@ci/deps.sh unix
	@$(MAKE) -s -C $(MICROPY_DIR)/ports/unix $(UNIX_ARGS)

run: unix
	@echo "Serving on http://localhost:$(HTTP_PORT)/ (Ctrl-C stops)"
	@$(UNIX_FIRMWARE) examples/hello.py --port $(HTTP_PORT)

# --- tests ------------------------------------------------------------------

test: unix venv xtensa-check
	@ci/deps.sh fuzz format
	@MICROPY_UNIX=$(UNIX_FIRMWARE) MICROPY_DIR=$(MICROPY_DIR) $(PYTHON) -m pytest $(PYTEST_ARGS)

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

# --- housekeeping -----------------------------------------------------------

clean:
	rm -rf $(BUILD)/unix $(BUILD)/mpy-cross

distclean:
	rm -rf $(BUILD)
