#!/usr/bin/env bash
# CI step: build the ESP32_CAM image when an ESP32 SDK is at hand, so that
# `make test` checks it (tests/test_esp32_image.py); otherwise say so in one
# line and build nothing. Never builds a toolchain.
#
#   ci/esp32-image.sh             the SDK, first found of:
#
#   ESP32_SDK         an ESP32 SDK folder (an unpacked SDK bundle)
#   ESP32_SDK_BUNDLE  a bundle tarball: unpacked once into the cache
#                     ($ESP32_SDK_CACHE/unpacked/), reused by later runs
#   the cache's SDK   $ESP32_SDK_CACHE/sdk, with its toolchain
#
# Builds the plain image, and the camera variant when the SDK has the camera
# driver (camera/micropython-camera-API). ESP32_JOBS= limits compile jobs.
source "$(dirname "$0")/lib.sh"

cache=$(esp32_sdk_cache)
sdk=${ESP32_SDK:-}
bundle=${ESP32_SDK_BUNDLE:-}

complete() {
    [ -z "$(esp32_sdk_missing "$1")" ]
}

if [ -z "$sdk" ] && [ -n "$bundle" ]; then
    [ -f "$bundle" ] || die "ESP32_SDK_BUNDLE=$bundle: no such file"
    dest=$cache/unpacked/$(basename "$bundle" .tar.xz)
    if ! complete "$dest/esp32-sdk" || [ "$bundle" -nt "$dest/esp32-sdk/MANIFEST.txt" ]; then
        say "unpacking $bundle into $dest"
        rm -rf "$dest" && mkdir -p "$dest"
        tar -xJf "$bundle" -C "$dest"
    fi
    sdk=$dest/esp32-sdk
fi
if [ -z "$sdk" ] && complete "$cache/sdk"; then
    sdk=$cache/sdk
fi
if [ -z "$sdk" ]; then
    echo "SKIPPED: ESP32 image not built: no ESP32 SDK on this machine (ESP32_SDK=<unpacked SDK bundle>, ESP32_SDK_BUNDLE=<bundle.tar.xz>; docs/topics/esp32-sdk.rst)"
    exit 0
fi
complete "$sdk" || die "ESP32_SDK=$sdk is not a complete ESP32 SDK (no $(esp32_sdk_missing "$sdk"))"

say "ESP32 image: building with the ESP32 SDK in $sdk"
make -C "$REPO_ROOT" --no-print-directory firmware ESP32_SDK="$sdk"
if [ -d "$sdk/camera/micropython-camera-API" ]; then
    make -C "$REPO_ROOT" --no-print-directory firmware ESP32_SDK="$sdk" \
        CAMERA_API_DIR="$sdk/camera/micropython-camera-API"
fi
