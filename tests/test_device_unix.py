"""The tests/device scripts on the unix firmware, checked by the oracle.

The same files run on the QEMU firmware (test_qemu.py) and on a board
(test_device_board.py); see tests/devicelib.py for how the expected output
is computed.
"""
import os

import pytest

from devicelib import DEVICE_DIR, SCRIPTS, expected, lines


@pytest.mark.parametrize('script', SCRIPTS)
def test_device_script(run_mpy, script):
    proc = run_mpy(script=os.path.join(DEVICE_DIR, script))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines(proc.stdout) == expected(script)
