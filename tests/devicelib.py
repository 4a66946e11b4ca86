"""The device lane: tests/device scripts on a target, checked by an oracle.

A device script is a plain MicroPython program that prints its results.
Its expected output is what the same script prints under CPython with
tests/device/reference first on the path, where ``ws_mask`` and
``microdot._ws_mask`` are an independent reference built on CPython's own
codecs, struct and integers. Targets: the unix firmware (a subprocess),
the QEMU firmware and real boards (through mpremote on a serial port).
"""
import functools
import glob
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICE_DIR = os.path.join(ROOT, 'tests', 'device')
REFERENCE_DIR = os.path.join(DEVICE_DIR, 'reference')
SCRIPTS = sorted(os.path.basename(p)
                 for p in glob.glob(os.path.join(DEVICE_DIR, '*.py')))

#: What the firmware's fault handler (ports/qemu/mcu/arm/errorhandler.c)
#: prints before it spins forever, e.g. "HardFault exception caught:".
FAULT_MARKER = 'exception caught:'


def lines(text):
    """Output as a list of lines, whatever the line endings."""
    return text.replace('\r\n', '\n').rstrip('\n').split('\n')


def cpython_output(code=None, script=None):
    """What ``code`` or ``script`` prints under CPython with the reference."""
    env = dict(os.environ, PYTHONPATH=REFERENCE_DIR)
    cmd = [sys.executable, '-c', code] if code is not None else \
        [sys.executable, script]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError('the CPython oracle failed on {}:\n{}'.format(
            script or code, proc.stdout + proc.stderr))
    return proc.stdout


@functools.lru_cache(maxsize=None)
def expected(name):
    """Expected output lines of tests/device/``name``."""
    out = lines(cpython_output(script=os.path.join(DEVICE_DIR, name)))
    # A reference run that skips or reports a failure checks nothing.
    assert 'SKIP' not in out, name
    return out


def mpremote_path():
    path = os.path.join(os.path.dirname(sys.executable), 'mpremote')
    if os.access(path, os.X_OK):
        return path
    path = shutil.which('mpremote')
    if path is None:
        raise RuntimeError('mpremote not found: run `make venv` and use '
                           'build/venv/bin/python -m pytest')
    return path


class DeviceFault(Exception):
    """The firmware hit a CPU fault (e.g. an unaligned word access)."""

    def __init__(self, output):
        super().__init__(output)
        #: Everything the device printed, up to and including the dump.
        self.output = output

    def __str__(self):
        return ('the firmware faulted (on the ESP32 an unaligned word access '
                'is such a fault); device output:\n' + self.output)


class DeviceTimeout(Exception):
    """The device did not answer in time."""


def mpremote(port, *args, timeout=60):
    """Run ``mpremote connect PORT ARGS...``; return (returncode, output).

    Output is stdout and stderr together. Raises :class:`DeviceFault` as
    soon as the firmware reports a CPU fault (it then hangs, so waiting for
    mpremote would only run into the timeout), :class:`DeviceTimeout` after
    ``timeout`` seconds.
    """
    cmd = [mpremote_path(), 'connect', port] + list(args)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd=ROOT)
    out = b''
    deadline = time.monotonic() + timeout
    fault_at = None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while True:
            now = time.monotonic()
            if fault_at is not None and now > fault_at:
                raise DeviceFault(out.decode(errors='replace'))
            if now > deadline:
                raise DeviceTimeout('mpremote {} gave no result in {} s:\n{}'
                                    .format(' '.join(args), timeout,
                                            out.decode(errors='replace')))
            if sel.select(timeout=0.1):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
                if fault_at is None and FAULT_MARKER.encode() in out:
                    # Let the register dump arrive, then give up.
                    fault_at = time.monotonic() + 0.5
        proc.wait(timeout=10)
    finally:
        sel.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    text = out.decode(errors='replace')
    if FAULT_MARKER in text:
        raise DeviceFault(text)
    return proc.returncode, text


class Qemu:
    """The QEMU firmware, its UART on a PTY (see ci/qemu-run.sh)."""

    def __init__(self, firmware):
        self.firmware = firmware
        self.proc = None
        self.log = None
        self.pty = None
        #: Cleared when the firmware faulted or stopped answering.
        self.healthy = False

    def start(self, timeout=20):
        self.log = tempfile.TemporaryFile()
        # A session of its own: a Ctrl-C meant for pytest is not qemu's.
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, 'ci', 'qemu-run.sh'), self.firmware],
            stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output()
            if 'redirected to /dev/pts/' in text:
                self.pty = text.split('redirected to ', 1)[1].split()[0]
                self.healthy = True
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        out = self.output()
        self.stop()
        raise RuntimeError('qemu did not open a PTY:\n' + out)

    def output(self):
        """What qemu itself printed (not the UART)."""
        self.log.seek(0)
        return self.log.read().decode(errors='replace')

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Stop qemu by its process handle; return its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.healthy = False
        return self.proc.returncode

    def restart(self):
        self.stop()
        return self.start()

    def mpremote(self, *args, timeout=60):
        """mpremote on this board's PTY; a fault or timeout marks it broken."""
        try:
            return mpremote(self.pty, *args, timeout=timeout)
        except (DeviceFault, DeviceTimeout):
            self.healthy = False
            raise
