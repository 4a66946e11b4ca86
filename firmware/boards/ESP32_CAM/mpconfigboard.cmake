# AI-Thinker ESP32-CAM, an out-of-tree board of MicroPython's esp32 port:
#   make -C <micropython>/ports/esp32 BOARD_DIR=<this folder> \
#       USER_C_MODULES=<repo>/usermod/micropython.cmake
# (the repository's `make firmware` runs exactly that; see the README).

set(IDF_TARGET esp32)

# The port's generic settings, its PSRAM settings (ESP32_GENERIC's SPIRAM
# variant uses the same two), then this board's.
set(SDKCONFIG_DEFAULTS
    boards/sdkconfig.base
    boards/sdkconfig.spiram
    ${MICROPY_BOARD_DIR}/sdkconfig.board
)

# The partition table is this board's own CSV. ESP-IDF resolves a relative
# CONFIG_PARTITION_TABLE_CUSTOM_FILENAME against ports/esp32, and this folder
# lives outside the MicroPython tree, so its absolute path goes into a
# one-line fragment generated in the build directory, applied last.
set(MICROPY_BOARD_PARTITIONS ${MICROPY_BOARD_DIR}/partitions-4MiB.csv)
file(WRITE ${CMAKE_BINARY_DIR}/sdkconfig.partitions
    "CONFIG_PARTITION_TABLE_CUSTOM_FILENAME=\"${MICROPY_BOARD_PARTITIONS}\"\n"
)
list(APPEND SDKCONFIG_DEFAULTS ${CMAKE_BINARY_DIR}/sdkconfig.partitions)

set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py)

# Optional camera driver: micropython-camera-API, given as
# -D MICROPY_CAMERA_API_DIR=<its checkout> (`make firmware CAMERA_API_DIR=`).
# It is an IDF component (its idf_component.yml pulls esp32-camera) and a
# user C module; camera.cmake, included after the module, restores this
# board's frozen manifest, which the module's cmake replaces with its own.
if(MICROPY_CAMERA_API_DIR)
    list(APPEND EXTRA_COMPONENT_DIRS ${MICROPY_CAMERA_API_DIR})
    list(APPEND USER_C_MODULES
        ${MICROPY_CAMERA_API_DIR}/micropython.cmake
        ${MICROPY_BOARD_DIR}/camera.cmake
    )
endif()
