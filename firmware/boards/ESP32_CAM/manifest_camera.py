# ESP32_CAM with micropython-camera-API (make firmware CAMERA_API_DIR=...):
# this board's manifest plus the driver's own (its asyncio camera wrapper).
# camera.cmake selects it; CAMERA_API_DIR is set there too.
include("$(BOARD_DIR)/manifest.py")
include("$(CAMERA_API_DIR)/manifest.py")
