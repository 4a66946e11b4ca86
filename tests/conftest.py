"""Fixtures shared by the test suite.

The tests drive the *unix port* build of this firmware as a subprocess:
scripts run in it, servers listen on free loopback ports, and real CPython
clients talk to them over real sockets.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, 'build')


def _firmware_path():
    return os.environ.get('MICROPY_UNIX',
                          os.path.join(BUILD, 'unix', 'micropython'))


@pytest.fixture(scope='session')
def micropython():
    """Path of the unix firmware binary (``make unix`` builds it)."""
    path = _firmware_path()
    if not os.access(path, os.X_OK):
        pytest.fail('{} not found: run `make unix` first'.format(path))
    return path


@pytest.fixture(scope='session')
def run_mpy(micropython):
    """Run code (``-c``) or a script in the firmware; return the result.

    ``run_mpy(code=...)`` or ``run_mpy(script=path, args=[...])``; extra
    ``firmware_args`` go before the script (e.g. ``['-X', 'heapsize=192k']``).
    """
    def run(code=None, script=None, args=(), firmware_args=(), timeout=60,
            env=None, cwd=ROOT):
        cmd = [micropython] + list(firmware_args)
        cmd += ['-c', code] if code is not None else [script]
        cmd += list(args)
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, env=env)
    return run


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Server:
    """A firmware process serving on a loopback port."""

    def __init__(self, proc, port, log):
        self.proc = proc
        self.port = port
        self.log = log
        self.url = 'http://127.0.0.1:{}'.format(port)
        self.ws_url = 'ws://127.0.0.1:{}'.format(port)

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        """Everything the process printed so far (stdout and stderr)."""
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        """Stop this process (by its handle, never by name); return output."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        out = self.output()
        self.log.close()
        return out


def wait_for_port(server, timeout=20):
    """Return once ``server`` accepts connections; raise if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError('server exited with {}: {}'.format(
                server.proc.returncode, server.output()))
        try:
            with socket.create_connection(('127.0.0.1', server.port),
                                          timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('server did not listen on port {} within {} s'.format(
        server.port, timeout))


@pytest.fixture
def serve(micropython):
    """Start firmware servers: ``serve(script, *args, firmware_args=())``.

    The script must take ``--port N``. Returns a :class:`Server` once the
    port accepts connections; every server is stopped at teardown.
    """
    servers = []

    def start(script, *args, firmware_args=()):
        port = free_port()
        cmd = [micropython] + list(firmware_args) + [script, '--port',
                                                     str(port)] + list(args)
        # A file, not a pipe: a chatty server must never block on output.
        log = tempfile.TemporaryFile(mode='w+')
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, text=True)
        server = Server(proc, port, log)
        servers.append(server)
        wait_for_port(server)
        return server

    yield start
    for server in servers:
        server.stop()


def pytest_report_header(config):
    return 'firmware: {} (python {})'.format(
        _firmware_path(), sys.version.split()[0])


def start_server(interpreter, script, *args, firmware_args=(), env=None):
    """Run ``interpreter [firmware_args] script --port N args``.

    Returns a :class:`Server` once it accepts connections; the caller
    stops it. ``interpreter`` is the firmware, or CPython for scripts that
    run on both.
    """
    port = free_port()
    cmd = [interpreter] + list(firmware_args) + [script, '--port',
                                                 str(port)] + list(args)
    log = tempfile.TemporaryFile(mode='w+')
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, env=env,
                            stderr=subprocess.STDOUT, text=True)
    server = Server(proc, port, log)
    try:
        wait_for_port(server)
    except RuntimeError:
        server.stop()
        raise
    return server


@pytest.fixture(scope='module')
def serve_module(micropython):
    """:func:`serve` for servers shared by the tests of a module."""
    servers = []

    def start(script, *args, firmware_args=()):
        server = start_server(micropython, script, *args,
                              firmware_args=firmware_args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


CAMERA_APP = os.path.join(ROOT, 'examples', 'camera_ws', 'main.py')
FROZEN_MICRODOT = os.path.join(ROOT, 'frozen', 'microdot')


@pytest.fixture
def camera_app(serve):
    """The camera demo on the unix firmware, with its synthetic frames.

    At teardown it checks that clients coming and going, some rudely, made
    the server print no error.
    """
    server = serve(CAMERA_APP, '--fps', '25')
    yield server
    out = server.output()
    assert 'Traceback' not in out and 'exception' not in out, out


@pytest.fixture(scope='module')
def our_websocket():
    """This project's microdot.websocket on CPython, over upstream Microdot
    installed in the venv (frozen/microdot/ first on the package's path, as
    the firmware's manifest arranges)."""
    import microdot
    if FROZEN_MICRODOT not in microdot.__path__:
        microdot.__path__.insert(0, FROZEN_MICRODOT)
    import microdot.websocket
    assert microdot.websocket.__file__.startswith(FROZEN_MICRODOT)
    return microdot.websocket
