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

Memory, per message size, measured inside the firmware for each layer:
"allocated" is how much ``gc.mem_alloc()`` grows per message echoed, with
the collector off (tests/ws_app.py's ``/alloc`` route: ``receive()`` of
frames the client sent in one go, then as many ``send()``), the garbage the
collector must reclaim as well as the message; "heap" is the peak heap a
message needs: the smallest ``-X heapsize`` on which ``examples/echo.py``
echoes it three times on one connection, less the smallest for a 16-byte
message (the firmware, the server and an idle connection), found by
bisection on fresh servers to 4 KiB or 2%.

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
WS_APP = os.path.join(ROOT, 'tests', 'ws_app.py')

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


# (label, payload size, messages counted by /alloc)
MEMORY = [
    ('16 B', 16, 1000),
    ('1 KiB', 1024, 200),
    ('64 KiB', 64 * 1024, 10),
    ('1 MiB', 1024 * 1024, 3),
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


def start_server(env, args=(), heap=HEAP, max_message=MAX_MESSAGE,
                 script=ECHO):
    port = free_port()
    proc = subprocess.Popen(
        [FIRMWARE, '-X', 'heapsize=' + heap, script, '--port', str(port),
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


def connect(port, path='/echo', timeout=30):
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b'GET ' + path.encode() + b' HTTP/1.1\r\nHost: 127.0.0.1\r\n'
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
    frame = masked_frame(pattern(size))
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


def pattern(size):
    return bytes(range(256)) * (size // 256) + bytes(range(size % 256))


def allocated(env, args, size, n):
    """Bytes ``gc.mem_alloc()`` grows by per message echoed (receive() and
    send()), the collector off, on tests/ws_app.py's ``/alloc`` route."""
    proc, port = start_server(env, args, heap='64M', script=WS_APP)
    try:
        frame = masked_frame(pattern(size))
        reply = echoed_size(size)
        buf = bytearray(1 << 20)
        s = connect(port, '/alloc?n={}'.format(n))
        try:
            s.sendall(frame)   # the warm-up message
            _receive(s, buf, reply)
            s.sendall(frame * n)
            _receive(s, buf, reply * n)
            text = b''
            while len(text) < 2 or len(text) < 2 + text[1]:   # "R S"
                chunk = s.recv(256)
                if not chunk:
                    raise RuntimeError('connection closed by the server')
                text += chunk
            received, sent = text[2:2 + text[1]].split()
            return (int(received) + int(sent)) / n
        finally:
            s.close()
    finally:
        proc.kill()
        proc.wait()


def echoes(env, args, heap, size):
    """True if examples/echo.py on a heap of ``heap`` bytes echoes a
    ``size``-byte message three times on one connection."""
    try:
        proc, port = start_server(env, args, heap=str(heap))
    except RuntimeError:
        return False   # too small a heap to start in
    try:
        frame = masked_frame(pattern(size))
        reply = echoed_size(size)
        buf = bytearray(1 << 20)
        s = connect(port, timeout=20)
        try:
            for _ in range(3):
                s.sendall(frame)
                _receive(s, buf, reply)
            return True
        finally:
            s.close()
    except (OSError, RuntimeError):
        return False
    finally:
        proc.kill()
        proc.wait()


def smallest_heap(env, args, size, low=16 * 1024, high=None):
    """The smallest heap (bytes, to 2% or 4 KiB) that echoes ``size``-byte
    messages; None if 64 MiB does not."""
    high = high or low + 4 * size + 256 * 1024
    while not echoes(env, args, high, size):
        low, high = high, high * 2
        if high > 64 << 20:
            return None
    while high - low > max(4096, high // 50):
        middle = (low + high) // 2 // 1024 * 1024
        if echoes(env, args, middle, size):
            high = middle
        else:
            low = middle
    return high


def memory(layers):
    """{(layer, label): (allocated, heap)} for MEMORY."""
    found = {}
    for name, env, args in layers:
        base = smallest_heap(env, args, 16)
        for label, size, n in MEMORY:
            try:
                alloc = allocated(env, args, size, n)
            except (OSError, RuntimeError):
                alloc = None
            heap = None
            if base is not None:
                heap = smallest_heap(env, args, size, low=base)
            found[name, label] = (alloc, max(heap - base, 0)
                                  if heap else None)
    return found


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
        # Memory first (each on servers of its own), then throughput.
        mem = memory(layers)
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
    print()
    print('Memory per message: allocated (collector off, bytes per message '
          'echoed) and heap (peak need, bytes)')
    print('{:<10} {:>16} {:>16} {:>16}'.format('message', *names))
    for label, size, n in MEMORY:
        print('{:<10} {:>16} {:>16} {:>16}'.format(label, *[
            '{} / {}'.format(nbytes(mem[name, label][0]),
                             nbytes(mem[name, label][1]))
            for name in names]))
    # One machine-readable line for ci/bench.sh and bench/report.py.
    print('RESULT ' + json.dumps({
        'bench': 'ws', 'heap': HEAP, 'layers': names,
        'results': [dict(label=label, size=size, unit=unit, **{
            name: best[name, label] if isinstance(best[name, label], float)
            else None for name in names})
            for label, size, window, unit in CASES],
        'memory': [dict(label=label, size=size, allocated={
            name: mem[name, label][0] for name in names}, heap={
            name: mem[name, label][1] for name in names})
            for label, size, n in MEMORY]}))


def nbytes(value, thousands=''):
    """A byte count for the tables (``thousands=','``: with separators)."""
    if value is None:
        return '-'
    if value >= 1 << 20:
        return '{:.2f} MiB'.format(value / (1 << 20))
    spec = '{:' + thousands + '.0f}'
    if value >= 10 * 1024:
        return (spec + ' KiB').format(value / 1024)
    return (spec + ' B').format(value)


def _fmt(value):
    if isinstance(value, float):
        return '{:.1f}'.format(value) if value < 100 else \
            '{:.0f}'.format(value)
    return 'failed'


if __name__ == '__main__':
    main()
