# ESP32_CAM frozen code: the esp32 port's default set (its modules/, asyncio
# and the micropython-lib packages it requires), the project's shared
# firmware (asyncio, Microdot with our WebSocket layer) and the board module.
include("$(PORT_DIR)/boards/manifest.py")
include("$(BOARD_DIR)/../../manifest.py")
freeze("$(BOARD_DIR)/modules")
