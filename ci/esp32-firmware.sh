#!/usr/bin/env bash
# Build the ESP32_CAM firmware with ESP-IDF: `make firmware` runs this.
#
#   ci/esp32-firmware.sh          settings come from the environment:
#
#   ESP32_SDK        an ESP32 SDK folder (an unpacked SDK bundle, or the one
#                    in the cache): its toolchain, ESP-IDF and MicroPython,
#                    nothing installed (docs/topics/esp32-sdk.rst);
#                    without ESP32_SDK and IDF_PATH, the cache's SDK
#                    ($ESP32_SDK_CACHE/sdk) is used when it is complete
#   IDF_PATH         or ESP-IDF v5.2.x-v5.4.x installed by its install.sh;
#                    its export.sh is sourced when idf.py is not on PATH
#   ESP32_JOBS       with an SDK: parallel compile jobs (ninja's default)
#   MICROPY_DIR      MicroPython v$MICROPY_VERSION, a git checkout (the ESP32
#                    build needs submodules; missing ones are initialised);
#                    with an SDK and the default MICROPY_DIR, the SDK's
#   MICROPY_VERSION  the pinned version
#   CAMERA_API_DIR   optional: a micropython-camera-API checkout to build in
#
# Steps: check every prerequisite first and report all that are missing;
# fetch MicroPython (when MICROPY_DIR is the default), mpy-cross and upstream
# Microdot through the Makefile; build with the port's own Makefile out of
# tree (build/esp32/idf); copy its merged image (bootloader, partition table
# and app, for offset 0x1000) to
#   build/esp32/firmware-<MicroPython version>-<git revision>[-camera].bin
# and to build/esp32/firmware.bin, the file `make deploy` writes.
source "$(dirname "$0")/lib.sh"

: "${MICROPY_VERSION:?}" "${MICROPY_DIR:?}"
IDF_PATH=${IDF_PATH:-}
ESP32_SDK=${ESP32_SDK:-}
CAMERA_API_DIR=${CAMERA_API_DIR:-}
MAKE=${MAKE:-make}

IDF_MIN=5.2
IDF_MAX=5.4
IDF_SUGGESTED=v5.2.2
board_dir=$REPO_ROOT/firmware/boards/ESP32_CAM
default_micropy_dir=$BUILD_DIR/micropython-$MICROPY_VERSION
out_dir=$BUILD_DIR/esp32

problems=()
problem() { problems+=("$*"); }

idf_help="install ESP-IDF $IDF_SUGGESTED (MicroPython $MICROPY_VERSION supports v$IDF_MIN.x to v$IDF_MAX.x) once:
    git clone -b $IDF_SUGGESTED --recursive https://github.com/espressif/esp-idf.git ~/esp/esp-idf
    ~/esp/esp-idf/install.sh esp32
  then, in each shell that builds:
    . ~/esp/esp-idf/export.sh        # sets IDF_PATH"
micropy_help="use a git checkout of MicroPython v$MICROPY_VERSION:
    git clone -b v$MICROPY_VERSION https://github.com/micropython/micropython.git
    make firmware MICROPY_DIR=\$PWD/micropython
  (make firmware initialises the submodules the ESP32 port needs)"

# --- ESP-IDF ------------------------------------------------------------------
# MAJOR.MINOR.PATCH from tools/cmake/version.cmake: set(IDF_VERSION_MAJOR 5)
idf_version() {
    awk -F'[ ()]+' '/^set\(IDF_VERSION_(MAJOR|MINOR|PATCH) / { v[$2] = $3 }
         END { if (v["IDF_VERSION_MAJOR"] == "") exit 1
               printf "%s.%s.%s\n", v["IDF_VERSION_MAJOR"], v["IDF_VERSION_MINOR"],
                      v["IDF_VERSION_PATCH"] }' "$1/tools/cmake/version.cmake" 2>/dev/null
}

check_idf() {
    if [ -z "$IDF_PATH" ]; then
        problem "IDF_PATH is not set: the ESP32 firmware is built with ESP-IDF; $idf_help"
        return
    fi
    if [ ! -f "$IDF_PATH/tools/idf.py" ] || [ ! -f "$IDF_PATH/export.sh" ]; then
        problem "IDF_PATH=$IDF_PATH is not an ESP-IDF tree (no tools/idf.py, export.sh); $idf_help"
        return
    fi
    local version
    version=$(idf_version "$IDF_PATH") || {
        problem "cannot read the ESP-IDF version from $IDF_PATH/tools/cmake/version.cmake; $idf_help"
        return
    }
    local major_minor=${version%.*}
    if ! printf '%s\n%s\n%s\n' "$IDF_MIN" "$major_minor" "$IDF_MAX" | sort -C -V; then
        problem "ESP-IDF v$version in $IDF_PATH is not supported by MicroPython $MICROPY_VERSION (v$IDF_MIN.x to v$IDF_MAX.x); $idf_help"
    fi
}

# --- MicroPython --------------------------------------------------------------
check_micropython() {
    if [ ! -e "$MICROPY_DIR" ]; then
        # The default location is fetched below; a path the user gave must exist.
        [ "$MICROPY_DIR" = "$default_micropy_dir" ] ||
            problem "MICROPY_DIR=$MICROPY_DIR does not exist; $micropy_help"
        return
    fi
    local found
    if ! found=$(micropython_tree_version "$MICROPY_DIR"); then
        problem "MICROPY_DIR=$MICROPY_DIR is not a MicroPython tree (no py/mpconfig.h); $micropy_help"
    elif [ "$found" != "$MICROPY_VERSION" ]; then
        problem "MICROPY_DIR=$MICROPY_DIR holds MicroPython $found, $MICROPY_VERSION is pinned; $micropy_help"
    elif [ "$(git -C "$MICROPY_DIR" rev-parse --show-toplevel 2>/dev/null)" != "$(cd "$MICROPY_DIR" && pwd -P)" ]; then
        problem "MICROPY_DIR=$MICROPY_DIR is not a git checkout, so its submodules (berkeley-db, micropython-lib, tinyusb) cannot be initialised (Debian's source package, the fallback of \`make micropython\`, has none); $micropy_help"
    fi
}

# --- micropython-camera-API -----------------------------------------------------
camera_help="clone it with its submodule (the esp32-camera IDF component):
    git clone --recursive https://github.com/cnadler86/micropython-camera-API.git
    make firmware CAMERA_API_DIR=\$PWD/micropython-camera-API"

check_camera() {
    [ -n "$CAMERA_API_DIR" ] || return 0
    local f missing=()
    for f in micropython.cmake CMakeLists.txt idf_component.yml manifest.py; do
        [ -f "$CAMERA_API_DIR/$f" ] || missing+=("$f")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        problem "CAMERA_API_DIR=$CAMERA_API_DIR is not a micropython-camera-API checkout with the IDF component layout (missing: ${missing[*]}); $camera_help"
        return
    fi
    if grep -Eq 'override_path:[[:space:]]*"?esp32-camera' "$CAMERA_API_DIR/idf_component.yml" &&
        [ ! -f "$CAMERA_API_DIR/esp32-camera/CMakeLists.txt" ]; then
        problem "CAMERA_API_DIR=$CAMERA_API_DIR has no esp32-camera/ (its idf_component.yml points there): run git -C $CAMERA_API_DIR submodule update --init"
    fi
}

# --- an ESP32 SDK ------------------------------------------------------------------
sdk_help="unpack an ESP32 SDK bundle anywhere and pass ESP32_SDK=<its esp32-sdk folder> (docs/topics/esp32-sdk.rst)"
check_sdk() {
    local f
    f=$(esp32_sdk_missing "$ESP32_SDK")
    if [ -n "$f" ]; then
        problem "ESP32_SDK=$ESP32_SDK is not a complete ESP32 SDK (no $f); $sdk_help"
        return 1
    fi
}
cache_sdk=$(esp32_sdk_cache)/sdk
if [ -z "$ESP32_SDK" ] && [ -z "$IDF_PATH" ] && [ -z "$(esp32_sdk_missing "$cache_sdk")" ]; then
    ESP32_SDK=$cache_sdk
fi
if [ -n "$ESP32_SDK" ]; then
    if check_sdk; then
        ESP32_SDK=$(cd "$ESP32_SDK" && pwd)
        say "ESP32 SDK: $ESP32_SDK"
        IDF_PATH=$ESP32_SDK/esp-idf
        [ "$MICROPY_DIR" = "$default_micropy_dir" ] && MICROPY_DIR=$ESP32_SDK/micropython
    fi
fi

# An SDK's ESP-IDF is checked like any other (once the SDK itself is).
if [ -z "$ESP32_SDK" ] || [ ${#problems[@]} -eq 0 ]; then
    check_idf
fi
check_micropython
check_camera
if [ ${#problems[@]} -gt 0 ]; then
    for p in "${problems[@]}"; do
        printf 'error: %s\n\n' "$p" >&2
    done
    die "make firmware: ${#problems[@]} prerequisite(s) missing (see above); nothing was built"
fi

# --- sources and host tools (through the Makefile) ------------------------------
# MICROPY_DIR reaches the sub-make through MAKEFLAGS when the user gave it.
# With an SDK, its MicroPython: nothing is fetched but Microdot from PyPI.
"$MAKE" -C "$REPO_ROOT" --no-print-directory micropython mpy-cross microdot \
    ${ESP32_SDK:+MICROPY_DIR="$MICROPY_DIR"}
check_micropython
if [ ${#problems[@]} -gt 0 ]; then
    die "${problems[0]}"
fi

# --- ESP-IDF environment ----------------------------------------------------------
if [ -n "$ESP32_SDK" ]; then
    "$ESP32_SDK/setup-python.sh"
    # shellcheck disable=SC1091
    . "$ESP32_SDK/env.sh"
    export ESP32_JOBS=${ESP32_JOBS:-}
elif ! command -v idf.py >/dev/null 2>&1; then
    say "sourcing $IDF_PATH/export.sh"
    # shellcheck disable=SC1091
    . "$IDF_PATH/export.sh" >/dev/null ||
        die "$IDF_PATH/export.sh failed: run $IDF_PATH/install.sh esp32 first"
fi

# The port's Makefile must not see this project's make variables.
port_make() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$MAKE" -C "$MICROPY_DIR/ports/esp32" "$@"
}

# Submodules the esp32 port needs; `make submodules` initialises exactly those.
if git -C "$MICROPY_DIR" submodule status lib/berkeley-db-1.xx lib/micropython-lib lib/tinyusb |
    grep -q '^-'; then
    say "initialising the ESP32 port's submodules in $MICROPY_DIR"
    port_make BOARD_DIR="$board_dir" BUILD="$out_dir/idf-submodules" submodules
fi

# --- build ------------------------------------------------------------------------
if [ -n "$CAMERA_API_DIR" ]; then
    idf_build=$out_dir/idf-camera
    suffix=-camera
    camera_api_dir=$(cd "$CAMERA_API_DIR" && pwd)
else
    idf_build=$out_dir/idf
    suffix=
    camera_api_dir=
fi
# A build folder belongs to one ESP-IDF and toolchain (its CMake cache names
# them): built before with another, it is started afresh.
origin="IDF_PATH=$IDF_PATH ESP32_SDK=$ESP32_SDK MICROPY_DIR=$MICROPY_DIR"
if [ -d "$idf_build" ] && [ "$(cat "$idf_build/.built-with" 2>/dev/null)" != "$origin" ]; then
    say "$idf_build was built with another ESP-IDF or MicroPython: starting it afresh"
    rm -rf "$idf_build"
fi
mkdir -p "$idf_build"
echo "$origin" >"$idf_build/.built-with"
# The SDK's own settings (sdkconfig.sdk: what its toolchain and Mbed TLS
# need), read by ESP-IDF right after the board's defaults; a change to them
# regenerates the configuration.
if [ -n "$ESP32_SDK" ]; then
    if ! cmp -s "$ESP32_SDK/sdkconfig.sdk" "$idf_build/sdkconfig.combined.esp32"; then
        cp "$ESP32_SDK/sdkconfig.sdk" "$idf_build/sdkconfig.combined.esp32"
        rm -f "$idf_build/sdkconfig"
    fi
fi
# Always passed, empty without a camera, so a cached value cannot linger.
export IDFPY_FLAGS="-D MICROPY_CAMERA_API_DIR=$camera_api_dir"
# Frozen code is compiled with this project's mpy-cross (built out of tree).
export MICROPY_MPYCROSS=$BUILD_DIR/mpy-cross/mpy-cross

say "building ESP32_CAM${camera_api_dir:+ with the camera driver from $camera_api_dir} in $idf_build"
port_make BOARD_DIR="$board_dir" BUILD="$idf_build" \
    USER_C_MODULES="$REPO_ROOT/usermod/micropython.cmake"

image=$idf_build/firmware.bin
[ -f "$image" ] || die "the port's build did not produce $image"

rev=$(git -C "$REPO_ROOT" rev-parse --short=10 HEAD 2>/dev/null || echo norev)
if [ "$rev" != norev ] && [ -n "$(git -C "$REPO_ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    rev=$rev-dirty
fi
named=$out_dir/firmware-$MICROPY_VERSION-$rev$suffix.bin
cp "$image" "$named"
cp "$image" "$out_dir/firmware.bin"
say "built $named ($(stat -c %s "$named") bytes) and $out_dir/firmware.bin"
say "flash it: make erase PORT=/dev/ttyUSB0 (first time), make deploy PORT=/dev/ttyUSB0"
