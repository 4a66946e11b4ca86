"""The QEMU firmware driven by mpremote, as a user drives a board.

``make qemu`` builds build/qemu/firmware.elf: ports/qemu on an emulated
Cortex-M3 (mps2-an385) with the C module ws_mask and the frozen Python twin,
set to trap on unaligned word access as the ESP32 does. Each test talks to
it over its PTY with mpremote; qemu is always stopped by its handle.
"""
import os

import pytest

from devicelib import (ROOT, SCRIPTS, DeviceFault, Qemu, cpython_output,
                       expected, lines)

CCR = 0xE000ED14  # SCB->CCR; bit 3 is UNALIGN_TRP


@pytest.fixture(scope='module')
def qemu_board():
    firmware = os.environ.get('MICROPY_QEMU', os.path.join(
        ROOT, 'build', 'qemu', 'firmware.elf'))
    if not os.path.isfile(firmware):
        pytest.fail('{} not found: run `make qemu` first'.format(firmware))
    board = Qemu(firmware).start()
    yield board
    board.stop()


@pytest.fixture
def board(qemu_board):
    """The running QEMU board; a fresh one if the last test broke it."""
    if not (qemu_board.healthy and qemu_board.alive()):
        qemu_board.restart()
    return qemu_board


def run_ok(board, *args):
    code, out = board.mpremote(*args)
    assert code == 0, out
    return lines(out)


@pytest.mark.parametrize('script', SCRIPTS)
def test_device_script(board, script):
    got = run_ok(board, 'run', os.path.join('tests', 'device', script))
    assert got == expected(script)


def test_repl_round_trip(board):
    # What a user types, answered by the device, checked against CPython.
    code = ('import ws_mask\n'
            'b = bytearray(b"Hello")\n'
            'print(ws_mask.mask(b, b"\\x37\\xfa\\x21\\x3d"), b.hex())\n'
            'print(ws_mask.parse_header(b"\\x81\\x85\\x37\\xfa\\x21\\x3d"))')
    assert run_ok(board, 'exec', code) == lines(cpython_output(code))
    # Without a soft reset in between, the next connection sees the state.
    run_ok(board, 'exec', 'answer = 6 * 7')
    assert run_ok(board, 'resume', 'eval', 'answer') == ['42']


def test_soft_reset_recovers(board):
    run_ok(board, 'exec', 'import machine\n'
           'machine.mem32[{}] &= ~8\n'
           'answer = 42'.format(CCR))
    run_ok(board, 'soft-reset')
    # A clean interpreter, with the alignment trap armed again by mp_init.
    assert run_ok(board, 'resume', 'exec', 'import machine\n'
                  'print("answer" in globals(), machine.mem32[{}] & 8)'
                  .format(CCR)) == ['False 8']
    # An exception in a script leaves the board usable.
    code, out = board.mpremote('exec', 'raise ValueError("boom")')
    assert code != 0 and 'ValueError: boom' in out
    script = SCRIPTS[0]
    got = run_ok(board, 'run', os.path.join('tests', 'device', script))
    assert got == expected(script)


def test_unaligned_word_access_faults(board):
    # The canary for the strict-alignment lane: an unaligned 32-bit load
    # must fault here (as on the ESP32), not quietly work as on a stock M3.
    code = ('import micropython\n'
            '@micropython.viper\n'
            'def load32(buf) -> int:\n'
            '    return ptr32(buf)[0]\n'
            'b = bytearray(b"\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08")\n'
            'print(hex(load32(b)))\n'
            'print(hex(load32(memoryview(b)[1:])))\n')
    with pytest.raises(DeviceFault) as fault:
        board.mpremote('exec', code)
    text = fault.value.output
    assert lines(text)[0] == '0x4030201'
    assert 'HardFault exception caught:' in text
    assert '0x5040302' not in text


def test_machine_reset_exits_qemu(board):
    # machine.reset() ends the emulation through semihosting (status 0).
    board.mpremote('exec', 'import machine\nmachine.reset()', timeout=20)
    board.proc.wait(timeout=10)
    assert board.proc.returncode == 0
    board.healthy = False
