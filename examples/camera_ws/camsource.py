"""Frame sources for the camera demo, chosen at import time.

On a board whose firmware has micropython-camera-API's ``camera`` module,
:data:`Source` is :class:`CameraSource` (an ESP32-CAM's OV2640 and its flash
LED); everywhere else it is :class:`SyntheticSource`, which loops the JPEG
test frames in ``frames/`` (made by ``make_frames.py``).

Both offer the same interface: ``sizes``, ``qualities`` (the JPEG qualities
that can be set, as ``(low, high)``), ``set_size(name)``,
``set_quality(q)`` (returns the quality applied), ``set_led(on)``,
``state()``, ``async capture()`` (a memoryview of one JPEG, valid until
``release()`` or the next capture) and ``release()``.
"""
import json
import os

import asyncio
from time import ticks_add, ticks_diff, ticks_ms

try:
    import camera
except ImportError:
    camera = None

# The AI-Thinker ESP32-CAM wiring of the OV2640, as keyword arguments of
# camera.Camera (data_pins are D0..D7, i.e. Y2..Y9). Used when the firmware
# has no `esp32cam` board module to provide it.
ESP32_CAM_PINS = {
    'data_pins': [5, 18, 19, 21, 36, 39, 34, 35],
    'vsync_pin': 25,
    'href_pin': 23,
    'sda_pin': 26,
    'scl_pin': 27,
    'pclk_pin': 22,
    'xclk_pin': 0,
    'xclk_freq': 20000000,
    'powerdown_pin': 32,
    'reset_pin': -1,
}
#: esp32-camera frame sizes this demo offers, largest first.
SIZES = ('SVGA', 'VGA', 'CIF', 'QVGA', 'QQVGA')
#: The white flash LED of the ESP32-CAM (high = on).
LED_PIN = 4


class _Base:
    name = ''
    sizes = ()
    qualities = (1, 100)

    def __init__(self):
        self.size = 'QVGA'
        self.quality = 80
        self.led = False

    def state(self):
        return {'source': self.name, 'size': self.size,
                'quality': self.quality, 'led': self.led,
                'sizes': list(self.sizes),
                'qualities': list(self.qualities)}

    def state_json(self):
        return json.dumps({'type': 'state', 'state': self.state()})

    def check_size(self, name):
        if name not in self.sizes:
            raise ValueError('unknown frame size {!r}; one of {}'.format(
                name, ', '.join(self.sizes)))

    def release(self):
        pass


class CameraSource(_Base):
    """The ESP32-CAM's camera, in JPEG mode, and its flash LED."""
    name = 'camera'
    # The first is the largest: the driver sizes its JPEG buffers at init.
    sizes = SIZES

    def __init__(self, pins=None, led_pin=None):
        from machine import Pin
        super().__init__()
        board_pins, board_led = _board_pins()
        pins = board_pins if pins is None else pins
        led_pin = board_led if led_pin is None else led_pin
        fs = camera.FrameSize
        self._cam = camera.Camera(
            pixel_format=camera.PixelFormat.JPEG,
            frame_size=getattr(fs, self.sizes[0]), jpeg_quality=self.quality,
            fb_count=2, grab_mode=camera.GrabMode.LATEST, **pins)
        self.set_size(self.size)
        self._led = Pin(led_pin, Pin.OUT, value=0)

    def _set(self, prop, value):
        # Newer micropython-camera-API releases have properties, older ones
        # set_*() methods; both take the same values.
        try:
            setattr(self._cam, prop, value)
        except AttributeError:
            getattr(self._cam, 'set_' + prop)(value)

    def set_size(self, name):
        self.check_size(name)
        self._set('frame_size', getattr(camera.FrameSize, name))
        self.size = name
        return name

    def set_quality(self, q):
        # The camera API takes percent (higher is better) and maps it onto
        # the sensor's 63..0 quantiser scale.
        self._set('quality', q)
        self.quality = q
        return q

    def set_led(self, on):
        self._led.value(1 if on else 0)
        self.led = on

    async def capture(self):
        cam = self._cam
        cam.free_buffer()
        if hasattr(cam, 'frame_available'):
            # Let the other tasks run while the driver fills a buffer.
            while not cam.frame_available():
                await asyncio.sleep_ms(2)
        return cam.capture()

    def release(self):
        self._cam.free_buffer()


class SyntheticSource(_Base):
    """JPEG test frames from ``folder``, looped at ``fps`` frames a second.

    Files are named ``<size>-q<quality>-<n>.jpg``; a requested quality is
    served by the nearest one available.
    """
    name = 'synthetic'

    def __init__(self, folder, fps=25):
        super().__init__()
        self.folder = folder
        self.period_ms = max(1, 1000 // fps)
        self._files = {}
        for f in sorted(os.listdir(folder)):
            if not f.endswith('.jpg'):
                continue
            size, q, _ = f[:-4].split('-')
            self._files.setdefault((size.upper(), int(q[1:])), []).append(f)
        if not self._files:
            raise OSError('no frames in {}'.format(folder))
        qs = sorted(set(q for _, q in self._files))
        self.qualities = (qs[0], qs[-1])
        self._qs = qs
        have = set(s for s, _ in self._files)
        self.sizes = tuple(s for s in SIZES if s in have)
        if self.size not in self.sizes:
            self.size = self.sizes[-1]
        self.quality = qs[-1]
        self._frames = None
        self._i = 0
        self._due = ticks_ms()

    def _path(self, name):
        return self.folder + '/' + name

    def _load(self):
        frames = []
        for name in self._files[(self.size, self.quality)]:
            with open(self._path(name), 'rb') as f:
                frames.append(memoryview(f.read()))
        self._frames = frames
        self._i = 0

    def set_size(self, name):
        self.check_size(name)
        self.size = name
        self._frames = None
        return name

    def set_quality(self, q):
        best = self._qs[0]
        for have in self._qs:
            if abs(have - q) < abs(best - q):
                best = have
        self.quality = best
        self._frames = None
        return best

    def set_led(self, on):
        self.led = on  # no LED here: the state is all there is

    async def capture(self):
        wait = ticks_diff(self._due, ticks_ms())
        if wait > 0:
            await asyncio.sleep_ms(wait)
        now = ticks_ms()
        # Keep the cadence, but never try to catch up after a stall.
        self._due = ticks_add(self._due if ticks_diff(now, self._due) <
                              self.period_ms else now, self.period_ms)
        if self._frames is None:
            self._load()
        frame = self._frames[self._i]
        self._i = (self._i + 1) % len(self._frames)
        return frame


def _board_pins():
    # This project's ESP32_CAM firmware freezes the board module `esp32cam`
    # with the pin map; on other firmware use the AI-Thinker wiring above.
    try:
        import esp32cam
    except ImportError:
        return dict(ESP32_CAM_PINS), LED_PIN
    pins = esp32cam.camera_pins()
    pins.setdefault('xclk_freq', getattr(esp32cam, 'XCLK_FREQ', 20000000))
    return pins, getattr(esp32cam, 'FLASH_LED', LED_PIN)


#: The frame source class of this platform.
Source = CameraSource if camera is not None else SyntheticSource
