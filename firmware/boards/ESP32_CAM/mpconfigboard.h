// AI-Thinker ESP32-CAM: ESP32-D0WD, 4 MB flash, 4 MB PSRAM, OV2640, microSD.

#define MICROPY_HW_BOARD_NAME               "AI-Thinker ESP32-CAM"
#define MICROPY_HW_MCU_NAME                 "ESP32"
#define MICROPY_PY_NETWORK_HOSTNAME_DEFAULT "esp32-cam"

// No Bluetooth (sdkconfig.board sets CONFIG_BT_ENABLED=n): NimBLE's IRAM and
// flash go to the camera driver and the frozen web stack instead.
#define MICROPY_PY_BLUETOOTH                (0)

// The microSD slot, SDMMC slot 1: machine.SDCard(slot=1).
#define MICROPY_HW_ENABLE_SDCARD            (1)

// Camera defaults for micropython-camera-API (used only when the firmware is
// built with CAMERA_API_DIR): camera.Camera() then needs no pin arguments.
// The same map is in pins.csv and, in the driver's keyword form, in
// modules/esp32cam.py.
#define MICROPY_CAMERA_PIN_D0               (5)
#define MICROPY_CAMERA_PIN_D1               (18)
#define MICROPY_CAMERA_PIN_D2               (19)
#define MICROPY_CAMERA_PIN_D3               (21)
#define MICROPY_CAMERA_PIN_D4               (36)
#define MICROPY_CAMERA_PIN_D5               (39)
#define MICROPY_CAMERA_PIN_D6               (34)
#define MICROPY_CAMERA_PIN_D7               (35)
#define MICROPY_CAMERA_PIN_VSYNC            (25)
#define MICROPY_CAMERA_PIN_HREF             (23)
#define MICROPY_CAMERA_PIN_PCLK             (22)
#define MICROPY_CAMERA_PIN_XCLK             (0)
#define MICROPY_CAMERA_PIN_SIOD             (26)
#define MICROPY_CAMERA_PIN_SIOC             (27)
#define MICROPY_CAMERA_PIN_PWDN             (32)
#define MICROPY_CAMERA_PIN_RESET            (-1)
#define MICROPY_CAMERA_XCLK_FREQ            (20000000)
