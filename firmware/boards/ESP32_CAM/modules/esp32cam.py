"""AI-Thinker ESP32-CAM: pin map and small helpers.

The camera pins are given in the keyword form of the ``camera.Camera``
constructor of micropython-camera-API, the driver a firmware built with
``make firmware CAMERA_API_DIR=...`` carries::

    from camera import Camera, FrameSize, PixelFormat
    import esp32cam

    cam = Camera(pixel_format=PixelFormat.JPEG, frame_size=FrameSize.VGA,
                 **esp32cam.camera_pins())

(That firmware also has these pins as the driver's defaults, so
``Camera(pixel_format=...)`` works as well; the map is here for other
firmware and for reference.) The module runs on CPython too: nothing is
imported from ``machine`` until a helper needs it.
"""

#: Red LED beside the reset button, active low.
LED = 33

#: White flash LED, active high. GPIO4 is also the SD card's D1 line.
FLASH_LED = 4

#: The microSD slot, SDMMC slot 1 (``machine.SDCard(slot=1)``).
SD_CLK = 14
SD_CMD = 15
SD_D0 = 2
SD_D1 = 4
SD_D2 = 12
SD_D3 = 13

#: OV2640 master clock frequency, Hz.
XCLK_FREQ = 20000000

# GPIO16 and GPIO17 are the PSRAM's CS and CLK lines: never use them.
_CAMERA_PINS = (
    ("data_pins", (5, 18, 19, 21, 36, 39, 34, 35)),
    ("vsync_pin", 25),
    ("href_pin", 23),
    ("sda_pin", 26),
    ("scl_pin", 27),
    ("pclk_pin", 22),
    ("xclk_pin", 0),
    ("powerdown_pin", 32),
    ("reset_pin", -1),
)


def camera_pins():
    """Return the OV2640 wiring as ``camera.Camera`` keyword arguments.

    A new dict on every call, ``data_pins`` a new list (D0 to D7), so a
    caller may change it. ``reset_pin`` is -1: the sensor's reset line is
    not wired; ``powerdown_pin`` must be driven low for the sensor to run,
    which the driver does.
    """
    pins = {}
    for name, value in _CAMERA_PINS:
        pins[name] = list(value) if isinstance(value, tuple) else value
    return pins


def led(on=False):
    """Return the red LED as an output ``machine.Pin``, lit if ``on``.

    :param on: initial state; the LED is active low, this takes care of it.
    """
    from machine import Pin
    return Pin(LED, Pin.OUT, value=0 if on else 1)


def flash_led(on=False):
    """Return the flash LED as an output ``machine.Pin``, lit if ``on``.

    It is very bright and draws about 100 mA: do not leave it on.
    """
    from machine import Pin
    return Pin(FLASH_LED, Pin.OUT, value=1 if on else 0)


def sdcard(width=1):
    """Return ``machine.SDCard`` for the microSD slot.

    :param width: bus width; 1 (the default) leaves GPIO4 to the flash LED
                  and GPIO12/13 free, 4 is faster but flashes the LED.

    Mount it with ``vfs.mount(esp32cam.sdcard(), "/sd")``.
    """
    from machine import SDCard
    return SDCard(slot=1, width=width)
