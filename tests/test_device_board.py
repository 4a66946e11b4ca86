"""The tests/device scripts on a real board through mpremote.

Skipped unless DEVICE names the board's serial port::

    DEVICE=/dev/ttyUSB0 build/venv/bin/python -m pytest \
        tests/test_device_board.py

The board must run this project's firmware (it needs ws_mask and the
frozen microdot._ws_mask).
"""
import os

import pytest

from devicelib import SCRIPTS, expected, lines, mpremote

DEVICE = os.environ.get('DEVICE')

pytestmark = pytest.mark.skipif(
    not DEVICE, reason='set DEVICE=/dev/ttyUSB0 to run on a board')


@pytest.mark.parametrize('script', SCRIPTS)
def test_device_script(script):
    path = os.path.join('tests', 'device', script)
    code, out = mpremote(DEVICE, 'run', path, timeout=300)
    assert code == 0, out
    assert lines(out) == expected(script)
