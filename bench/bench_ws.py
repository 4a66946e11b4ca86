"""WebSocket echo throughput: this firmware's layer vs upstream Microdot.

Both servers are ``examples/echo.py`` run by the same unix firmware binary;
for the baseline, upstream Microdot 2.7.0 (``build/microdot``) is copied to
a temporary folder that ``MICROPYPATH`` puts ahead of the frozen modules, so
``microdot.websocket`` is upstream's module there. The client is a raw
socket with every frame masked before the clock starts; it only counts the
echoed bytes, so it measures the server rather than itself. Small messages
are pipelined (a window of frames in flight), large ones go one at a time;
"16 B rtt" is one message in flight (round-trip latency). Columns: this
firmware as specified (binary messages returned as ``bytes``), the same with
``WebSocket.binary_type = bytearray`` (no copy of received payloads), and
upstream. Rounds alternate between the servers; each keeps its best.

Run with ``make bench`` or ``build/venv/bin/python bench/bench_ws.py``.
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.environ.get('MICROPY_UNIX',
                          os.path.join(ROOT, 'build', 'unix', 'micropython'))
UPSTREAM = os.path.join(ROOT, 'build', 'microdot', 'microdot')
ECHO = os.path.join(ROOT, 'examples', 'echo.py')

# Both servers get the same heap, big enough for upstream to echo 1 MiB
# (it fails on the default heap), and the same message limit.
HEAP = '8M'
MAX_MESSAGE = str(2 * 1024 * 1024)
KEY = b'\x37\xfa\x21\x3d'
QUICKACK = getattr(socket, 'TCP_QUICKACK', 12)
SECONDS = float(os.environ.get('BENCH_SECONDS', '1'))
ROUNDS = 3

# (label, payload size, pipelined window, unit); "rtt": one message in
# flight, round trips.
CASES = [
    ('16 B', 16, 64, 'msg/s'),
    ('16 B rtt', 16, 1, 'msg/s'),
    ('1 KiB', 1024, 16, 'msg/s'),
    ('64 KiB', 64 * 1024, 1, 'MB/s'),
    ('1 MiB', 1024 * 1024, 1, 'MB/s'),
]


def masked_frame(payload):
    n = len(payload)
    if n < 126:
        header = struct.pack('!BB', 0x82, 0x80 | n)
    elif n < 65536:
        header = struct.pack('!BBH', 0x82, 0x80 | 126, n)
    else:
        header = struct.pack('!BBQ', 0x82, 0x80 | 127, n)
    key = (KEY * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, 'big') ^
            int.from_bytes(key, 'big')).to_bytes(n, 'big')
    return header + KEY + body


def echoed_size(n):
    return n + (2 if n < 126 else 4 if n < 65536 else 10)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def layer_envs(tmp):
    """Environments running this firmware's layer and upstream's.

    Upstream Microdot 2.7.0 is copied into ``tmp``, which ``MICROPYPATH``
    puts ahead of the frozen modules.
    """
    shutil.copytree(UPSTREAM, os.path.join(tmp, 'microdot'))
    return (dict(os.environ, MICROPYPATH='.frozen'),
            dict(os.environ, MICROPYPATH=tmp + ':.frozen'))


def start_server(env, args=(), heap=HEAP, max_message=MAX_MESSAGE):
    port = free_port()
    proc = subprocess.Popen(
        [FIRMWARE, '-X', 'heapsize=' + heap, ECHO, '--port', str(port),
         '--max-message', max_message] + list(args),
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError('server did not start (exit {})'.format(
        proc.returncode))


def connect(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n'
              b'Upgrade: websocket\r\nConnection: Upgrade\r\n'
              b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
              b'Sec-WebSocket-Version: 13\r\n\r\n')
    reply = b''
    while b'\r\n\r\n' not in reply:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError('handshake failed')
        reply += chunk
    if not reply.startswith(b'HTTP/1.1 101'):
        raise RuntimeError('handshake failed: {!r}'.format(reply[:80]))
    if reply.index(b'\r\n\r\n') + 4 != len(reply):
        raise RuntimeError('data after the handshake')
    return s


def run_case(port, size, window):
    """Echo ``size``-byte messages for SECONDS; return messages per second."""
    frame = masked_frame(bytes(range(256)) * (size // 256) +
                         bytes(range(size % 256)))
    batch = frame * window
    reply = echoed_size(size)
    buf = bytearray(1 << 20)
    s = connect(port)
    try:
        # Warm up with one batch.
        s.sendall(batch)
        _receive(s, buf, reply * window)
        sent = received = 0
        start = time.perf_counter()
        deadline = start + SECONDS
        s.sendall(batch)
        sent += window
        while True:
            received += _receive(s, buf, reply * window) // reply
            now = time.perf_counter()
            if now >= deadline:
                break
            s.sendall(batch)
            sent += window
        if received != sent:
            raise RuntimeError('lost messages')
        return received / (now - start)
    finally:
        s.close()


def _receive(s, buf, total):
    got = 0
    view = memoryview(buf)
    while got < total:
        n = s.recv_into(view, min(len(buf), total - got))
        if not n:
            raise RuntimeError('connection closed by the server')
        got += n
        # Acknowledge at once: upstream does not set TCP_NODELAY, and Nagle's
        # algorithm on its side would otherwise wait for our delayed ACKs
        # (40 ms per window) -- a measure of the kernel, not of the server.
        s.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
    return got


def rate(port, label, size, window, unit):
    try:
        r = run_case(port, size, window)
    except (OSError, RuntimeError) as exc:
        return exc
    return r if unit == 'msg/s' else r * size / 1e6


def main():
    if not os.access(FIRMWARE, os.X_OK):
        sys.exit('{} not found: run `make unix`'.format(FIRMWARE))
    tmp = tempfile.mkdtemp()
    servers = []
    try:
        frozen, upstream = layer_envs(tmp)
        layers = [
            ('this firmware', frozen, ()),
            ('bytearray', frozen, ('--bytearray',)),
            ('upstream 2.7', upstream, ()),
        ]
        for name, env, args in layers:
            servers.append(start_server(env, args))
        # Rounds alternate between the servers, so that a busy machine
        # slows them alike; each keeps its best round.
        best = {}
        for _ in range(ROUNDS):
            for label, size, window, unit in CASES:
                for (name, _, _), (_, port) in zip(layers, servers):
                    r = rate(port, label, size, window, unit)
                    old = best.get((name, label))
                    if not isinstance(old, float) or \
                            (isinstance(r, float) and r > old):
                        best[name, label] = r
    finally:
        for proc, _ in servers:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp)

    print('WebSocket echo, unix firmware, heap {}, best of {} rounds of {} s'
          .format(HEAP, ROUNDS, SECONDS))
    print('(this firmware: binary messages as bytes, as specified; '
          'bytearray: WebSocket.binary_type = bytearray)')
    names = [name for name, _, _ in layers]
    print('{:<10} {:>6} {:>14} {:>10} {:>13} {:>7}'.format(
        'message', 'unit', *names, 'ratio'))
    for label, size, window, unit in CASES:
        values = [best[name, label] for name in names]
        a, b = values[0], values[2]
        ratio = '{:.1f}x'.format(a / b) if isinstance(a, float) and \
            isinstance(b, float) else '-'
        print('{:<10} {:>6} {:>14} {:>10} {:>13} {:>7}'.format(
            label, unit, *[_fmt(v) for v in values], ratio))
    # One machine-readable line for ci/bench.sh and bench/report.py.
    print('RESULT ' + json.dumps({
        'bench': 'ws', 'heap': HEAP, 'layers': names,
        'results': [dict(label=label, size=size, unit=unit, **{
            name: best[name, label] if isinstance(best[name, label], float)
            else None for name in names})
            for label, size, window, unit in CASES]}))


def _fmt(value):
    if isinstance(value, float):
        return '{:.1f}'.format(value) if value < 100 else \
            '{:.0f}'.format(value)
    return 'failed'


if __name__ == '__main__':
    main()
