# Included as the last user C module when the firmware is built with
# micropython-camera-API (see mpconfigboard.cmake). That module's
# micropython.cmake sets MICROPY_FROZEN_MANIFEST to its own manifest, which
# would drop Microdot and this board's module: freeze this board's camera
# manifest instead (or a manifest given on the command line), and tell it
# where the driver's manifest is.
set(MICROPY_MANIFEST_CAMERA_API_DIR ${MICROPY_CAMERA_API_DIR})
if(MICROPY_USER_FROZEN_MANIFEST)
    set(MICROPY_FROZEN_MANIFEST ${MICROPY_USER_FROZEN_MANIFEST})
else()
    set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest_camera.py)
endif()
