"""Generate the synthetic camera frames the unix port streams.

Run once, with Pillow, from the repository root::

    build/venv/bin/python examples/camera_ws/make_frames.py

It writes ``examples/camera_ws/frames/<size>-q<quality>-<n>.jpg``: for each
frame size and JPEG quality the app offers on the unix port, a short loop of
baseline JPEG frames (a test card with a sweeping hand, so motion and dropped
frames are visible). The files are committed; rerun this only to change them.
"""
import math
import os

from PIL import Image, ImageDraw, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'frames')

#: Frame sizes by their esp32-camera names.
SIZES = {'QQVGA': (160, 120), 'QVGA': (320, 240)}
#: JPEG qualities (Pillow's 1-95 scale, close to the camera API's percent).
QUALITIES = (30, 80)
#: Frames per loop.
COUNT = 6

BARS = ((192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0),
        (192, 0, 192), (192, 0, 0), (0, 0, 192))


def card(size, n):
    """Draw test-card frame ``n`` of ``COUNT`` at ``size`` (width, height)."""
    w, h = size
    img = Image.new('RGB', size)
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (x * 255 // w, y * 255 // h, 96)
    d = ImageDraw.Draw(img)
    bar_w = w / len(BARS)
    for i, color in enumerate(BARS):
        d.rectangle((round(i * bar_w), 0, round((i + 1) * bar_w) - 1,
                     h // 4), fill=color)
    cx, cy, r = w // 2, h * 5 // 8, h // 4
    d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(255, 255, 255),
              width=max(1, w // 160))
    angle = 2 * math.pi * n / COUNT - math.pi / 2
    d.line((cx, cy, cx + r * math.cos(angle), cy + r * math.sin(angle)),
           fill=(255, 255, 0), width=max(2, w // 80))
    font = ImageFont.load_default(size=max(10, h // 12))
    d.text((4, h - h // 8), '{}x{} #{}'.format(w, h, n), fill=(255, 255, 255),
           font=font)
    return img


def main():
    os.makedirs(OUT, exist_ok=True)
    total = 0
    for name, size in SIZES.items():
        for n in range(COUNT):
            img = card(size, n)
            for q in QUALITIES:
                path = os.path.join(OUT, '{}-q{}-{}.jpg'.format(
                    name.lower(), q, n))
                img.save(path, 'JPEG', quality=q, optimize=False,
                         progressive=False)
                total += os.path.getsize(path)
    print('{} files, {} bytes in {}'.format(
        len(SIZES) * len(QUALITIES) * COUNT, total, OUT))


if __name__ == '__main__':
    main()
