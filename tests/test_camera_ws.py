"""The camera demo (examples/camera_ws) over real WebSocket clients.

The server is the unix firmware running the app with its synthetic source.
Oracles: the committed JPEG files (each frame must be one of them, byte for
byte, behind the stamp), Pillow's JPEG decoder, the stamp layout documented
in camstream.py, and the server's own counters cross-checked against what
the clients saw.
"""
import asyncio
import base64
import glob
import io
import json
import os
import re
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import websockets
from PIL import Image

from conftest import CAMERA_APP as APP, ROOT

FRAMES = os.path.join(ROOT, 'examples', 'camera_ws', 'frames')
STAMP_LEN = 18


def committed_frames(size, quality):
    out = set()
    for path in glob.glob(os.path.join(FRAMES, '{}-q{}-*.jpg'.format(
            size.lower(), quality))):
        with open(path, 'rb') as f:
            out.add(f.read())
    assert out, (size, quality)
    return out


def unstamp(frame):
    """(seq, ms, jpeg) from a stamped frame, checking the stamp layout."""
    assert frame[:4] == b'\xff\xd8\xff\xfe', frame[:8].hex()
    assert struct.unpack('>H', frame[4:6])[0] == 14
    assert frame[6:10] == b'CAMF'
    seq, ms = struct.unpack('>II', frame[10:18])
    assert ms < 1 << 30
    return seq, ms, b'\xff\xd8' + frame[STAMP_LEN:]


def stats(server, collect=False):
    url = server.url + '/stats' + ('?gc=1' if collect else '')
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


class Client:
    """A websockets client that sorts frames from JSON text messages."""

    def __init__(self, ws):
        self.ws = ws
        self.frames = []
        self.texts = []

    @classmethod
    async def connect(cls, server):
        ws = await websockets.connect(server.ws_url + '/ws', max_size=None,
                                      open_timeout=10)
        c = cls(ws)
        hello = await c.text(lambda m: m['type'] == 'hello')
        c.hello = hello
        return c

    async def _next(self):
        m = await asyncio.wait_for(self.ws.recv(), 10)
        if isinstance(m, bytes):
            self.frames.append(m)
            return None
        msg = json.loads(m)
        self.texts.append(msg)
        return msg

    async def text(self, match):
        """Read until a text message for which ``match`` is true."""
        while True:
            msg = await self._next()
            if msg is not None and match(msg):
                return msg

    async def frames_until(self, n):
        while len(self.frames) < n:
            await self._next()
        return self.frames

    async def frames_after(self, seq):
        """Read until a frame with a sequence number over ``seq``."""
        while not self.frames or unstamp(self.frames[-1])[0] <= seq:
            await self._next()

    async def ack(self, cmd=None, msg_id=None, **fields):
        msg = dict(fields)
        if cmd is not None:
            msg['cmd'] = cmd
        if msg_id is not None:
            msg['id'] = msg_id
        await self.ws.send(json.dumps(msg))
        return await self.text(lambda m: m['type'] == 'ack' and (
            msg_id is None or m.get('id') == msg_id))

    async def close(self):
        await self.ws.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


@pytest.fixture
def app(camera_app):
    return camera_app


def test_frames_are_the_committed_jpegs_stamped_in_order(app):
    async def go():
        c = await Client.connect(app)
        state = c.hello['state']
        assert state['source'] == 'synthetic'
        assert (state['size'], state['quality']) == ('QVGA', 80)
        frames = await c.frames_until(20)
        await c.close()
        return frames

    frames = run(go())
    originals = committed_frames('QVGA', 80)
    seqs = []
    for frame in frames:
        seq, ms, jpeg = unstamp(frame)
        seqs.append(seq)
        assert jpeg in originals
        img = Image.open(io.BytesIO(frame))  # stamped: still a valid JPEG
        img.load()
        assert img.size == (320, 240)
    # A single fast reader on loopback: consecutive, nothing dropped.
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_controls_are_acknowledged_and_applied(app):
    async def go():
        c = await Client.connect(app)
        other = await Client.connect(app)
        ack = await c.ack('size', 1, value='QQVGA')
        assert ack['ok'] and ack['state']['size'] == 'QQVGA', ack
        # The other viewer is told, once, with the whole state.
        st = await other.text(lambda m: m['type'] == 'state')
        assert st['state']['size'] == 'QQVGA'
        ack = await c.ack('quality', 2, value=40)
        # The synthetic source has qualities 30 and 80: nearest applies.
        assert ack['ok'] and ack['state']['quality'] == 30, ack
        ack = await c.ack('led', 3, value=True)
        assert ack['ok'] and ack['state']['led'] is True
        # Frames switch to the new size and quality (within a frame or two).
        n = len(c.frames)
        await c.frames_until(n + 5)
        seq, _, jpeg = unstamp(c.frames[-1])
        assert jpeg in committed_frames('QQVGA', 30)
        assert Image.open(io.BytesIO(c.frames[-1])).size == (160, 120)
        s = await c.ack('stats', 4)
        assert s['ok'] and s['sent'] >= len(c.frames)
        await other.close()
        await c.close()

    run(go())


@pytest.mark.parametrize('message, error', [
    ('not json', 'not JSON'),
    ('[1, 2]', 'expected an object with a "cmd"'),
    ('{"value": 3}', 'expected an object with a "cmd"'),
    ('{"cmd": "zoom"}', 'unknown command'),
    ('{"cmd": "size", "value": "HD"}', "unknown frame size 'HD'"),
    ('{"cmd": "size"}', 'unknown frame size None'),
    ('{"cmd": "quality", "value": 0}', 'integer from 1 to 100'),
    ('{"cmd": "quality", "value": 101}', 'integer from 1 to 100'),
    ('{"cmd": "quality", "value": "50"}', 'integer from 1 to 100'),
    ('{"cmd": "quality", "value": true}', 'integer from 1 to 100'),
    ('{"cmd": "led", "value": 1}', 'true or false'),
    (b'\x01\x02', 'control messages are JSON text'),
])
def test_bad_controls_get_an_error_ack_and_streaming_goes_on(
        app, message, error):
    async def go():
        c = await Client.connect(app)
        await c.ws.send(message)
        ack = await c.text(lambda m: m['type'] == 'ack')
        assert ack['ok'] is False and error in ack['error'], ack
        # Nothing changed, and frames keep coming on the same connection.
        ok = await c.ack('stats', 9)
        assert ok['ok']
        n = len(c.frames)
        await c.frames_until(n + 3)
        await c.close()

    run(go())
    s = stats(app)['source']
    assert (s['size'], s['quality'], s['led']) == ('QVGA', 80, False)
    assert app.alive()


def test_oversized_control_message_is_refused(app):
    async def go():
        c = await Client.connect(app)
        await c.ws.send(json.dumps({'cmd': 'ping', 't': 'x' * 4096}))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await c._next()
        # The server survives and serves the next viewer.
        d = await Client.connect(app)
        await d.frames_until(3)
        await d.close()

    run(go())


def test_pause_resume_and_drop_counts_match_the_server(app):
    async def go():
        c = await Client.connect(app)
        await c.frames_until(10)
        ack = await c.ack('pause', 1)
        assert ack['ok'] and ack['paused'] is True
        # Every frame sent before the pause ack arrived before it.
        assert ack['sent'] == len(c.frames)
        n = len(c.frames)
        await asyncio.sleep(0.5)
        ack = await c.ack('stats', 2)
        assert len(c.frames) == n and ack['sent'] == n
        ack = await c.ack('resume', 3)
        assert ack['paused'] is False
        resumed_at = len(c.frames)
        await c.frames_until(resumed_at + 10)
        ack = await c.ack('pause', 4)
        await c.close()
        # Drops as a client computes them from the stamps (a resume is
        # not a drop) equal the server's count.
        drops = 0
        seqs = [unstamp(f)[0] for f in c.frames]
        for i in range(1, len(seqs)):
            if i != resumed_at:
                drops += seqs[i] - seqs[i - 1] - 1
        assert ack['sent'] == len(c.frames)
        assert ack['dropped'] == drops

    run(go())


def test_closing_one_viewer_leaves_the_others_streaming(app):
    async def go():
        a = await Client.connect(app)
        b = await Client.connect(app)
        await a.frames_until(5)
        await b.frames_until(5)
        assert len(stats(app)['viewers']) == 2
        await a.close()
        n = len(b.frames)
        await b.frames_until(n + 25)
        viewers = stats(app)['viewers']
        assert [v['id'] for v in viewers] == [b.hello['viewer']]
        await b.close()

    run(go())
    # Nobody watching: the capture loop idles.
    deadline = time.monotonic() + 5
    while stats(app)['viewers'] and time.monotonic() < deadline:
        time.sleep(0.05)
    first = stats(app)['captured']
    time.sleep(0.5)
    # (A capture already waiting for its time slot may still complete.)
    assert stats(app)['captured'] - first <= 1


def test_viewers_vanishing_mid_stream_are_cleaned_up_quietly(app):
    async def go():
        keep = await Client.connect(app)
        for _ in range(3):
            c = await Client.connect(app)
            await c.frames_until(3)
            c.ws.transport.abort()  # no close frame: a reset mid-stream
            await keep.frames_until(len(keep.frames) + 5)
        deadline = time.monotonic() + 10
        while len(stats(app)['viewers']) > 1:
            assert time.monotonic() < deadline, stats(app)
            await keep.frames_until(len(keep.frames) + 1)
        n = len(keep.frames)
        await keep.frames_until(n + 10)
        await keep.close()

    run(go())
    assert app.alive()
    # (The fixture checks that the server printed no error.)


def test_viewer_limit_is_enforced_with_a_message(app):
    async def go():
        clients = [await Client.connect(app) for _ in range(4)]
        ws = await websockets.connect(app.ws_url + '/ws', open_timeout=10)
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert msg == {'type': 'error', 'error': 'too many viewers'}
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        for c in clients:
            await c.frames_until(len(c.frames) + 2)
            await c.close()

    run(go())


def _stalled_client(server):
    """A viewer that completes the handshake and then never reads."""
    s = socket.socket()
    # A tiny receive window: the kernel cannot soak up the stream for it.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.connect(('127.0.0.1', server.port))
    s.sendall(b'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'
              b'Connection: Upgrade\r\n'
              b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
              b'Sec-WebSocket-Version: 13\r\n\r\n')
    head = b''
    while b'\r\n\r\n' not in head:
        head += s.recv(1)
    assert head.startswith(b'HTTP/1.1 101'), head
    return s


def test_a_stalled_viewer_costs_bounded_memory_and_not_the_others(serve):
    # (Eviction of stalled viewers is pushed out of the way here.)
    app = serve(APP, '--fps', '25', '--stall-ms', '60000')
    base = stats(app, collect=True)['mem_alloc']
    slow = _stalled_client(app)
    try:
        async def go():
            fast = await Client.connect(app)
            # Wait until the stalled viewer's writer is stuck: the kernel
            # buffers are full and its sent count no longer moves.
            ids = {v['id'] for v in stats(app)['viewers']}
            slow_id = (ids - {fast.hello['viewer']}).pop()
            prev = None
            for _ in range(100):
                await fast.frames_until(len(fast.frames) + 5)
                cur = _viewer(app, slow_id)['sent']
                if cur == prev:
                    break
                prev = cur
            stuck = _viewer(app, slow_id)
            heap = []
            fast_start = len(fast.frames)
            for _ in range(6):
                await fast.frames_until(len(fast.frames) + 25)
                s = stats(app, collect=True)
                heap.append(s['mem_alloc'])
            end = _viewer(app, slow_id)
            await fast.close()
            return stuck, end, heap, len(fast.frames) - fast_start, s

        stuck, end, heap, fast_frames, s = run(go())
    finally:
        slow.close()
    grown = max(heap) - base
    print('\nstalled viewer: sent {} -> {}, dropped {} -> {}; fast viewer '
          'got {} frames meanwhile; heap idle {} B, streaming {} B; frame '
          'pool {} buffers, {} B'.format(
              stuck['sent'], end['sent'], stuck['dropped'], end['dropped'],
              fast_frames, base, heap, s['pool'], s['pool_bytes']))
    # The stalled viewer got nothing more; the frames it missed are counted.
    assert end['sent'] - stuck['sent'] <= 1
    assert end['dropped'] - stuck['dropped'] >= fast_frames - 2
    assert fast_frames >= 150
    # Memory: the pool holds at most viewers + 2 buffers, nothing queues.
    # Queuing the frames the stalled viewer missed would take ~8 KiB each;
    # instead the heap stays flat while they are dropped. (The fixed cost
    # over an idle server: the synthetic frames loaded, the frame pool and
    # two connections with a frame stuck in one's write buffer.)
    assert s['pool'] <= 4
    assert max(heap) - heap[0] < 16 * 1024, heap
    assert grown < 192 * 1024, heap
    assert stats(app)['evicted'] == 0
    # The stalled viewer gone, the server still serves.
    deadline = time.monotonic() + 10
    while len(stats(app)['viewers']) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stats(app)['viewers'] == []
    assert app.alive()


def test_a_stalled_viewer_is_disconnected_after_the_stall_limit(serve):
    app = serve(APP, '--fps', '25', '--stall-ms', '1000')
    slow = _stalled_client(app)
    try:
        async def go():
            fast = await Client.connect(app)
            t0 = time.monotonic()
            while len(stats(app)['viewers']) > 1:
                assert time.monotonic() - t0 < 30, stats(app)
                await fast.frames_until(len(fast.frames) + 5)
            n = len(fast.frames)
            await fast.frames_until(n + 25)
            await fast.close()
            return fast.hello['viewer']

        fast_id = run(go())
        # The server closed the stalled socket: reading it drains what the
        # kernel held, then ends.
        _drained_to_eof(slow)
    finally:
        slow.close()
    s = stats(app)
    assert s['evicted'] == 1
    assert all(v['id'] != fast_id for v in s['viewers'])
    assert app.alive()
    assert 'Traceback' not in app.output(), app.output()


# In the firmware itself: the frame buffer and the capture loop, fed by a
# stand-in source; the script prints what it saw (JSON) and the checks are
# made here, against the stamp layout (unstamp) and the JPEG rule (SOI).
UNIT = r"""
import sys
sys.path.insert(0, 'examples/camera_ws')
import array, gc, json
import asyncio
import camstream


def out(**kw):
    print(json.dumps(kw))


def refill(size):
    jpeg = b'\xff\xd8' + bytes(range(256)) * (size // 256) + b'\xff\xd9'
    f = camstream.Frame(64)
    f.fill(memoryview(jpeg), 7, 1234)
    first = bytes(f.data)
    # Refill in place from a signed memoryview, as the camera module gives.
    cap = len(f.buf)
    signed = memoryview(array.array('b', jpeg))
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    f.fill(signed, 8, 99)
    used = gc.mem_alloc() - before
    gc.enable()
    out(size=size, first=first.hex(), second=bytes(f.data).hex(),
        grew=len(f.buf) != cap, used=used)


refill(2048)
refill(65536)


class Source:
    def __init__(self, items):
        self.items = items
        self.calls = 0
        self.released = 0
        self.more = asyncio.Event()

    async def capture(self):
        await asyncio.sleep_ms(1)
        if not self.items:
            await self.more.wait()  # all given: wait to be told
            return None
        self.calls += 1
        kind, data = self.items.pop(0)
        if kind == 'raise':
            raise {'OSError': OSError(5), 'MemoryError': MemoryError()}[data]
        if kind == 'none':
            return None
        data = bytes.fromhex(data)
        return memoryview(array.array('b', data) if kind == 'signed'
                          else data)

    def release(self):
        self.released += 1


class Watcher:
    paused = False
    evicted = False

    def __init__(self, b):
        self.b = b
        self.seen = []
        self.pool = 0

    def wake(self):
        f = self.b.latest
        self.seen.append(bytes(f.data).hex())
        self.pool = max(self.pool, len(self.b._pool))

    def stalled(self, now):
        return False


async def main():
    src = Source(ITEMS)
    b = camstream.Broadcaster(src)
    b.retry_ms = 20
    task = asyncio.create_task(b.run())
    await asyncio.sleep_ms(50)
    idle = src.calls
    w = Watcher(b)
    b.add(w)
    for _ in range(400):
        if not src.items:
            break
        await asyncio.sleep_ms(5)
    await asyncio.sleep_ms(50)
    out(idle=idle, calls=src.calls, released=src.released,
        captured=b.captured, bad=b.bad, errors=b.errors, seen=w.seen,
        max_pool=w.pool)
    # The viewer leaves: the loop goes idle and lets the buffers go.
    b.remove(w)
    src.more.set()
    await asyncio.sleep_ms(50)
    out(pool=len(b._pool), latest=b.latest is None)
    task.cancel()

with open(sys.argv[1]) as f:
    ITEMS = json.load(f)
asyncio.run(main())
"""

GOOD = [b'\xff\xd8' + bytes([n]) * 40 + b'\xff\xd9' for n in range(3)]
SOURCE_ITEMS = [
    ('none', None),                      # the driver had no frame
    ('bytes', b'xx'),                    # too short
    ('bytes', b'\x00\xd8\x00\x00'),      # no SOI
    ('signed', b'\xff\xd8\x01\x02'),     # SOI, as signed bytes
    ('raise', 'OSError'),                # a driver error
    ('bytes', GOOD[0]),
    ('raise', 'MemoryError'),            # e.g. after a size change
    ('bytes', GOOD[1]),
    ('signed', GOOD[2]),
]


def _is_jpeg(kind, data):
    return kind in ('bytes', 'signed') and len(data) >= 4 and \
        data[:2] == b'\xff\xd8'


def test_frame_buffer_and_capture_loop_in_the_firmware(run_mpy, tmp_path):
    script = tmp_path / 'unit.py'
    script.write_text(UNIT)
    # (In a file: the unix port dies on an argument over 255 bytes.)
    items = tmp_path / 'items.json'
    items.write_text(json.dumps([(k, d.hex() if isinstance(d, bytes) else d)
                                 for k, d in SOURCE_ITEMS]))
    r = run_mpy(script=str(script), args=[str(items)])
    assert r.returncode == 0, r.stderr + r.stdout
    lines = [json.loads(line) for line in r.stdout.splitlines()
             if line.startswith('{')]
    small, big, run_, end = lines
    for fill in small, big:
        jpeg = (b'\xff\xd8' + bytes(range(256)) * (fill['size'] // 256) +
                b'\xff\xd9')
        assert unstamp(bytes.fromhex(fill['first'])) == (7, 1234, jpeg)
        assert unstamp(bytes.fromhex(fill['second'])) == (8, 99, jpeg)
        assert not fill['grew']  # refilled in place
    # A refill allocates a few small objects, whatever the frame size.
    print('\nrefill: {} B allocated for 2 KiB, {} B for 64 KiB'.format(
        small['used'], big['used']))
    assert small['used'] == big['used'] < 1024

    frames = [d for k, d in SOURCE_ITEMS if _is_jpeg(k, d)]
    raised = [d for k, d in SOURCE_ITEMS if k == 'raise']
    # No viewer: nothing captured.
    assert run_['idle'] == 0
    # Every item was asked for; each capture is released, even one that
    # raised; the errors did not end the loop: every frame after them
    # came through, in order, numbered from 1, each offered once.
    assert run_['calls'] == len(SOURCE_ITEMS)
    assert run_['released'] == run_['calls']
    assert run_['errors'] == len(raised)
    assert run_['bad'] == len(SOURCE_ITEMS) - len(frames) - len(raised)
    assert run_['captured'] == len(frames)
    seen = [unstamp(bytes.fromhex(h)) for h in run_['seen']]
    assert [(seq, jpeg) for seq, _, jpeg in seen] == list(
        zip(range(1, len(frames) + 1), frames))
    # One viewer that never holds a frame: the newest and the one being
    # filled. Once it left: nothing.
    assert run_['max_pool'] <= 2
    assert end == {'pool': 0, 'latest': True}


# The board path (camsource.CameraSource) against micropython-camera-API's
# own source: the API it exposes is read from the driver's C code, and the
# stand-in `camera` module the firmware runs the demo with is generated from
# that -- constructor keywords, methods, writable properties, constants, the
# quality scale and capture()'s return type -- for the last release with
# set_*() methods only and the newest one, with properties.
#
# What this cannot check (no board here): esp32-camera itself (frames,
# frame_available() timing under GrabMode.LATEST, the sensor's real sizes),
# that the driver builds with this MicroPython (v0.6 targets 1.27), PSRAM,
# and that a JPEG buffer sized at init (SVGA) fits every smaller size.
# The facts are committed (tests/data/camera-api.json, small): CI has no
# copy of the driver. test_camera_api_facts_are_the_drivers re-reads them
# from a git copy of the driver when there is one (CAMERA_API_GIT, e.g. a
# snapshot of github.com/cnadler86/micropython-camera-API) and must find the
# same.
CAMERA_API_GIT = os.environ.get('CAMERA_API_GIT',
                                os.path.join(ROOT, 'build', 'camera-api.git'))
CAMERA_API_TAGS = ('v0.5.0', 'v0.6.2')
CAMERA_API_FACTS = os.path.join(ROOT, 'tests', 'data', 'camera-api.json')


def driver_source():
    """``show(tag, path)`` over the driver's git copy, or None."""
    if not os.path.isdir(CAMERA_API_GIT):
        return None

    def show(tag, path):
        return subprocess.run(
            ['git', '--git-dir', CAMERA_API_GIT, 'show', tag + ':' + path],
            capture_output=True, text=True, check=True).stdout
    return show


def read_facts(show):
    """{tag: facts} for CAMERA_API_TAGS, read from the driver's source."""
    facts = {}
    for tag in CAMERA_API_TAGS:
        api = camera_api(show, tag)
        api['ai_thinker_pins'] = ai_thinker_pins(show, tag,
                                                 api['pin_macros'])
        api['commit'] = subprocess.run(
            ['git', '--git-dir', CAMERA_API_GIT, 'rev-list', '-n1', tag],
            capture_output=True, text=True, check=True).stdout.strip()
        facts[tag] = api
    return facts


@pytest.fixture(scope='module')
def camera_api_facts():
    with open(CAMERA_API_FACTS) as f:
        return json.load(f)


def test_camera_api_facts_are_the_drivers(camera_api_facts):
    show = driver_source()
    if show is None:
        pytest.skip('no git copy of micropython-camera-API at {} (set '
                    'CAMERA_API_GIT): the committed facts are not re-read'
                    .format(CAMERA_API_GIT))
    assert read_facts(show) == camera_api_facts


def _block(text, start, end='};'):
    i = text.index(start)
    return text[i:text.index(end, i)]


def _pyi_constants(pyi, cls):
    body = _block(pyi, 'class {}('.format(cls), 'def __init__')
    pairs = re.findall(r'(\w+): [\w\[\]]+ = (\d+)', body)
    return {n: int(v) for n, v in pairs}


def camera_api(show, tag):
    """What micropython-camera-API ``tag`` offers, read from its source."""
    api = show(tag, 'src/modcamera_api.c')
    hal = show(tag, 'src/modcamera.c')
    pyi = show(tag, 'typings/camera.pyi')
    make_new = _block(api, 'mp_camera_make_new', 'mp_arg_val_t args')
    # The board-less branch: the keywords that are then required.
    no_pins = make_new[make_new.index('#else'):make_new.index('#endif')]
    kwargs = sorted(set(re.findall(
        r'MP_QSTR_(\w+), MP_ARG_\w+ \| MP_ARG_KW_ONLY', make_new)))
    # (All keyword-only.)
    assert kwargs == sorted(set(re.findall(r'MP_QSTR_(\w+)', make_new)))
    required = re.findall(r'MP_QSTR_(\w+), [^}]*MP_ARG_REQUIRED', no_pins)
    # Which pin macro of camera_pins.h each keyword defaults to.
    pin_macros = dict(re.findall(
        r'MP_QSTR_(\w+), [^{]*\{ \.u_int = MICROPY_CAMERA_PIN_(\w+) \}',
        make_new))
    methods = re.findall(r'MP_ROM_QSTR\(MP_QSTR_(\w+)\)',
                         _block(api, 'camera_camera_locals_table[]'))
    for p in re.findall(r'ADD_PROPERTY_TO_TABLE\((\w+)\)',
                        _block(api, 'camera_camera_locals_table[]')):
        methods += ['get_' + p, 'set_' + p]
    props = []
    if 'Store (writing)' in api:
        store = _block(api, 'Store (writing)', 'default:')
        props = re.findall(r'case MP_QSTR_(\w+):\s*mp_camera_hal_set_',
                           store)
    capture = _block(hal, 'mp_obj_t mp_camera_hal_capture(', '\n}')
    quality = re.search(r'get_mapped_jpeg_quality\(int8_t quality\) \{\s*'
                        r'return map\(quality, (\d+), (\d+), (\d+), (\d+)\)',
                        hal).groups()
    q_check = re.search(r'jpeg_quality < (\d+)\) \|\| \(jpeg_quality > '
                        r'(\d+)\)', api).groups()
    tables = {}
    for cls, table in (('FrameSize', 'frame_size'),
                       ('PixelFormat', 'pixel_format'),
                       ('GrabMode', 'grab_mode')):
        names = re.findall(r'MP_QSTR_(\w+)\)', _block(
            hal, 'mp_camera_hal_{}_table[]'.format(table)))
        values = _pyi_constants(pyi, cls)
        assert set(names) <= set(values), (cls, set(names) - set(values))
        tables[cls] = {n: values[n] for n in names}
    return {
        'kwargs': kwargs, 'required': required, 'pin_macros': pin_macros,
        'methods': methods, 'props': props,
        'module': re.findall(r'MP_ROM_QSTR\(MP_QSTR_(\w+)\), ', _block(
            api, 'camera_module_globals_table[]')),
        'capture_none': 'return mp_const_none' in capture,
        'capture_type': re.search(r"mp_obj_new_memoryview\('(\w)'",
                                  capture).group(1),
        'quality_map': [int(v) for v in quality],
        'quality_range': [int(v) for v in q_check],
        'tables': tables,
    }


def ai_thinker_pins(show, tag, pin_macros):
    """The AI-Thinker ESP32-CAM pin map in the driver's camera_pins.h, as
    the constructor's keyword arguments."""
    block = _block(show(tag, 'src/camera_pins.h'),
                   'defined(MICROPY_CAMERA_MODEL_AI_THINKER)', '#elif')
    macros = {n: int(v.replace('MICROPY_CAMERA_PIN_NONE', '-1'))
              for n, v in re.findall(r'#define MICROPY_CAMERA_PIN_(\w+)\s+'
                                     r'(\S+)', block)}
    pins = {kw: macros[m] for kw, m in pin_macros.items()}
    pins['data_pins'] = [macros['D{}'.format(i)] for i in range(8)]
    return pins


# The firmware side: a `camera` module built from the facts above (API),
# and machine.Pin; then CameraSource is driven through its interface.
BOARD = r"""
import sys, json, array
sys.path.insert(0, 'examples/camera_ws')
with open(sys.argv[1]) as f:
    API = json.load(f)
JPEG = b'\xff\xd8\x00\x01\xff\xd9'
log = []


class _Mod:
    pass


class Camera:
    def __init__(self, **kw):
        for k in kw:
            if k not in API['kwargs']:
                raise TypeError('unexpected keyword argument ' + k)
        for k in API['required']:
            if k not in kw:
                raise TypeError('missing required keyword ' + k)
        lo, hi = API['quality_range']
        if not lo <= kw.get('jpeg_quality', 85) <= hi:
            raise ValueError('jpeg quality must be in range 0-100')
        log.append(['init', kw])

    def __setattr__(self, name, value):
        # A C object: only its writable properties can be set.
        if name not in API['props']:
            raise AttributeError(name)
        log.append([name, value])


POLLS = [0]


def _result(name):
    if name == 'frame_available':
        POLLS[0] += 1
        return POLLS[0] % 3 == 0
    if name == 'capture':
        return memoryview(array.array(API['capture_type'], JPEG))


def _method(name):
    def method(self, *args):
        log.append([name] + list(args))
        return _result(name)
    return method


for _name in API['methods']:
    setattr(Camera, _name, _method(_name))

camera = _Mod()
for _name in API['module']:
    setattr(camera, _name, _Mod())
camera.Camera = Camera
for _cls, _values in API['tables'].items():
    for _n, _v in _values.items():
        setattr(getattr(camera, _cls), _n, _v)
pins = []


class Pin:
    OUT = 3

    def __init__(self, n, mode, value=None):
        pins.append([n, mode, value])

    def value(self, v):
        pins.append(v)


machine = _Mod()
machine.Pin = Pin
sys.modules['camera'] = camera
sys.modules['machine'] = machine

import asyncio
import camsource
out = {'chosen': camsource.Source is camsource.CameraSource}
src = camsource.Source()
src.set_size('VGA')
out['quality'] = src.set_quality(55)
out['state'] = src.state()
try:
    src.set_size('HD')
except ValueError as e:
    out['bad_size'] = str(e)
src.set_led(True)
src.set_led(False)
frame = asyncio.run(src.capture())
out['frame'] = [bytes(frame).hex(), frame[0] & 0xff, frame[1] & 0xff]
src.release()
out['log'] = log
out['pins'] = pins
print(json.dumps(out))
"""


@pytest.mark.parametrize('tag', CAMERA_API_TAGS)
def test_camera_source_against_the_drivers_own_source(run_mpy, tmp_path,
                                                      camera_api_facts,
                                                      tag):
    api = camera_api_facts[tag]
    # What the demo's code relies on, read from the driver.
    assert {'Camera', 'FrameSize', 'PixelFormat', 'GrabMode'} <= set(
        api['module'])
    assert {'capture', 'free_buffer', 'frame_available'} <= set(
        api['methods'])
    # capture(): the frame as a signed memoryview, or None on failure
    # (camstream masks the bytes and counts None as a bad frame).
    assert api['capture_type'] == 'b' and api['capture_none']
    # The quality is a percentage (higher is better), mapped onto the
    # sensor's quantiser 63..0: the demo passes 1-100 through as it is.
    assert api['quality_map'] == [0, 100, 63, 0]
    assert api['quality_range'] == [0, 100]
    script = tmp_path / 'board.py'
    script.write_text(BOARD)
    facts = tmp_path / 'api.json'
    facts.write_text(json.dumps(api))
    r = run_mpy(script=str(script), args=[str(facts)])
    assert r.returncode == 0, r.stderr + r.stdout
    out = json.loads(r.stdout.splitlines()[-1])
    sizes = api['tables']['FrameSize']
    fmt = api['tables']['PixelFormat']
    grab = api['tables']['GrabMode']
    assert out['chosen'] is True
    (what, kw), *calls = out['log']
    assert what == 'init'
    pins = camera_api_facts[CAMERA_API_TAGS[-1]]['ai_thinker_pins']
    assert {k: kw[k] for k in pins} == pins
    # JPEG, two buffers, the newest frame; initialised at the largest size
    # offered, so that the driver's buffers fit every size.
    offered = out['state']['sizes']
    assert kw['frame_size'] == max(sizes[s] for s in offered) == \
        sizes[offered[0]]
    assert (kw['pixel_format'], kw['fb_count'], kw['grab_mode']) == (
        fmt['JPEG'], 2, grab['LATEST'])
    assert kw['xclk_freq'] == 20000000 and kw['jpeg_quality'] == 80
    # Settings through properties where the driver has them, else set_*().
    setter = '{}' if 'frame_size' in api['props'] else 'set_{}'
    sets = [c for c in calls if c[0] in (setter.format('frame_size'),
                                         setter.format('quality'))]
    assert sets == [[setter.format('frame_size'), sizes['QVGA']],
                    [setter.format('frame_size'), sizes['VGA']],
                    [setter.format('quality'), 55]]
    assert out['quality'] == 55 and out['state']['size'] == 'VGA'
    assert out['bad_size'].startswith("unknown frame size 'HD'")
    # capture(): hand back the last buffer, poll, take the frame; the
    # release returns it. (Every call is one the driver has: the stand-in
    # has no other methods.)
    assert [c[0] for c in calls if c not in sets] == [
        'free_buffer', 'frame_available', 'frame_available',
        'frame_available', 'capture', 'free_buffer']
    assert out['frame'] == ['ffd80001ffd9', 0xff, 0xd8]
    # The flash LED: GPIO4 output, off; then on and off.
    assert out['pins'] == [[4, 3, 0], 1, 0]
    print('\n{}: {} constructor keywords, {} methods, {} properties; '
          'CameraSource passes {} keywords and uses {}'.format(
              tag, len(api['kwargs']), len(api['methods']),
              len(api['props']), len(kw),
              ', '.join(sorted({c[0] for c in calls}))))


# --- Faults, half-open viewers and the frame pool -------------------------

def _masked(opcode, payload):
    """One client frame (RFC 6455 5.2): FIN, ``opcode``, masked payload."""
    key = b'\x37\xfa\x21\x3d'
    assert len(payload) < 126
    return (bytes([0x80 | opcode, 0x80 | len(payload)]) + key +
            bytes(b ^ key[i % 4] for i, b in enumerate(payload)))


def _control(sock, **msg):
    sock.sendall(_masked(1, json.dumps(msg).encode()))


def _until(what, cond, timeout):
    """Poll ``cond()`` until true; return (its value, seconds waited)."""
    t0 = time.monotonic()
    while True:
        value = cond()
        if value:
            return value, time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, what
        time.sleep(0.05)


def _viewer(server, vid):
    for v in stats(server)['viewers']:
        if v['id'] == vid:
            return v


def _new_viewer_id(server, before):
    ids, _ = _until('a new viewer', lambda: {
        v['id'] for v in stats(server)['viewers']} - before, 10)
    return ids.pop()


def _stuck(server, vids, timeout=20):
    """Wait until none of the viewers ``vids`` is sent anything more while
    frames are being captured: each has one send stuck."""
    prev = None
    t0 = time.monotonic()
    while True:
        s = stats(server)
        cur = {v['id']: v['sent'] for v in s['viewers'] if v['id'] in vids}
        assert len(cur) == len(vids), s
        if prev is not None and cur == prev[0] and \
                s['captured'] >= prev[1] + 3:
            return
        assert time.monotonic() - t0 < timeout, s
        prev = (cur, s['captured'])
        time.sleep(0.3)


def _drained_to_eof(sock, timeout=10):
    """Read ``sock`` to its end (the server closed it); bytes read."""
    sock.settimeout(timeout)
    total = 0
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return total
            total += len(chunk)
    except ConnectionResetError:
        return total


def _evicted(server, vid, sock, what, timeout):
    """Wait until viewer ``vid`` is gone and its socket ``sock`` closed
    by the server; the seconds waited."""
    _, waited = _until(what + ' evicted',
                       lambda: _viewer(server, vid) is None, timeout)
    assert _drained_to_eof(sock) > 0
    return waited


def test_paused_then_silent_viewer_is_evicted(serve):
    # It stops reading, its frame send sticks, then it pauses: the only
    # viewer is paused, so nothing is captured any more -- the stall must
    # be noticed all the same.
    app = serve(APP, '--fps', '25', '--stall-ms', '3000')
    slow = _stalled_client(app)
    try:
        vid = _new_viewer_id(app, set())
        _stuck(app, {vid})
        _control(slow, cmd='pause')
        waited = _evicted(app, vid, slow, 'the paused, silent viewer', 20)
    finally:
        slow.close()
    s = stats(app)
    print('\npaused-then-silent viewer: evicted {:.1f} s after its pause '
          '(stall limit 3 s); frames captured {}'.format(
              waited, s['captured']))
    assert s['evicted'] == 1 and s['viewers'] == []
    assert waited < 3 + 10


def test_four_paused_silent_viewers_do_not_lock_out_a_fifth(serve):
    app = serve(APP, '--fps', '25', '--stall-ms', '5000')
    socks = []
    try:
        vids = set()
        for _ in range(4):
            socks.append(_stalled_client(app))
            vids.add(_new_viewer_id(app, vids))
        _stuck(app, vids)
        for s in socks:
            _control(s, cmd='pause')
        t0 = time.monotonic()
        gone = {}
        while len(gone) < 4:
            assert time.monotonic() - t0 < 30, stats(app)
            left = {v['id'] for v in stats(app)['viewers']}
            for vid in vids - left - set(gone):
                gone[vid] = time.monotonic() - t0
            time.sleep(0.05)

        async def fifth():
            c = await Client.connect(app)
            await c.frames_until(5)
            await c.close()
            return c.hello

        hello = run(fifth())
    finally:
        for s in socks:
            s.close()
    print('\nfour paused, silent viewers: evicted {} s after their pauses '
          '(stall limit 5 s); a fifth viewer then streams'.format(
              ', '.join('{:.1f}'.format(t) for t in sorted(gone.values()))))
    assert hello['type'] == 'hello'
    assert stats(app)['evicted'] == 4


def test_a_stuck_control_reply_gets_the_viewer_evicted(serve):
    # Paused at once (no frames), then control messages it never reads the
    # replies to: the writer's stuck send is a reply, not a frame.
    app = serve(APP, '--fps', '25', '--stall-ms', '2000')
    slow = _stalled_client(app)
    try:
        _control(slow, cmd='pause')
        vid = _new_viewer_id(app, set())
        _until('paused', lambda: (_viewer(app, vid) or {}).get('paused'), 10)
        slow.settimeout(30)
        pings = b''.join(_masked(1, json.dumps(
            {'cmd': 'ping', 't': i}).encode()) for i in range(3000))
        t0 = time.monotonic()
        try:
            slow.sendall(pings)
        except OSError:
            pass  # evicted while sending: fine
        _evicted(app, vid, slow, 'the viewer stuck on a reply', 30)
    finally:
        slow.close()
    s = stats(app)
    print('\nstuck control reply: viewer evicted {:.1f} s after the first '
          'unread ping (stall limit 2 s); frames captured {}'.format(
              time.monotonic() - t0, s['captured']))
    assert s['evicted'] == 1
    assert app.alive()


def test_a_pause_ack_counts_the_frame_that_was_in_flight(app):
    # A slow reader: its client stops reading (a small queue, a small
    # socket buffer) until the server's frame send is stuck, then pauses.
    # The frame in flight goes out before the ack, so the ack counts it.
    async def go():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.connect(('127.0.0.1', app.port))
        ws = await websockets.connect(app.ws_url + '/ws', sock=sock,
                                      max_size=None, max_queue=1,
                                      open_timeout=10)
        c = Client(ws)
        hello = await c.text(lambda m: m['type'] == 'hello')
        _stuck(app, {hello['viewer']})
        await ws.send(json.dumps({'cmd': 'pause', 'id': 1}))
        ack = await c.text(lambda m: m['type'] == 'ack')
        await c.close()
        return ack, len(c.frames)

    ack, received = run(go())
    print('\npause while a send is stuck: {} frames before the ack, which '
          'says {}'.format(received, ack['sent']))
    assert ack['paused'] is True
    assert ack['sent'] == received


def _idle(server, pool=None):
    """A condition for :func:`_until`: the server has no viewer (and
    ``pool`` buffers); its value is the stats."""
    def check():
        s = stats(server, collect=True)
        if not s['viewers'] and pool in (None, s['pool']):
            return s
    return check


def test_the_frame_pool_shrinks_when_viewers_leave(serve):
    app = serve(APP, '--fps', '25', '--stall-ms', '60000')
    socks = []
    try:
        async def go():
            # The heap once one viewer has come and gone (the synthetic
            # frames are loaded then).
            first = await Client.connect(app)
            await first.frames_until(10)
            await first.close()
            base, _ = _until('the first viewer gone', _idle(app, pool=0), 10)
            fast = await Client.connect(app)
            vids = set()
            for _ in range(3):
                socks.append(_stalled_client(app))
                vids.add(_new_viewer_id(app, vids | {fast.hello['viewer']}))
                # Stuck at different frames: each pins its own buffer.
                await fast.frames_until(len(fast.frames) + 10)
            _stuck(app, vids)
            await fast.frames_until(len(fast.frames) + 10)
            busy = stats(app, collect=True)
            for s in socks:
                s.close()
            _until('the stalled viewers gone',
                   lambda: len(stats(app)['viewers']) == 1, 10)
            await fast.frames_until(len(fast.frames) + 25)
            one = stats(app, collect=True)
            await fast.close()
            return base, busy, one

        base, busy, one = run(go())
    finally:
        for s in socks:
            s.close()
    idle, _ = _until('the pool emptied', _idle(app, pool=0), 10)
    print('\nframe pool: 4 viewers (3 stuck) {} buffers, {} B; 1 viewer {} '
          'buffers, {} B; none {} buffers, {} B; idle heap {} B before the '
          '4 viewers, {} B after'.format(
              busy['pool'], busy['pool_bytes'], one['pool'],
              one['pool_bytes'], idle['pool'], idle['pool_bytes'],
              base['mem_alloc'], idle['mem_alloc']))
    # Three stuck sends pin three frames, plus the newest and the one
    # being filled; the fast viewer's send may hold a fourth.
    assert 4 <= busy['pool'] <= 6, busy
    # One viewer: its send in flight, the newest, the one being filled.
    assert one['pool'] <= 3, one
    assert idle['pool_bytes'] == 0
    # The buffers were given back to the heap (each holds an ~8 KiB frame).
    assert base['pool'] == 0
    assert idle['mem_alloc'] - base['mem_alloc'] < 8 * 1024


# A wrapper of main.py that makes the source, the driver and task creation
# fail on request (GET /fault?...), to see the demo survive them.
FAULTS = r'''
import sys
sys.path.insert(0, 'examples/camera_ws')
import asyncio
import camsource
import main

faults = {}


def _take(name):
    n = faults.get(name, 0)
    if n:
        faults[name] = n - 1
    return n


class FaultySource(camsource.SyntheticSource):
    big = None

    async def capture(self):
        if _take('capture'):
            await asyncio.sleep_ms(5)
            raise OSError(5)  # EIO, as a camera driver reports a failure
        if _take('big'):
            # A size change the heap cannot hold: copying it into the
            # frame pool raises MemoryError.
            big = self.big
            if not faults['big']:
                self.big = None
            return big
        return await super().capture()

    def set_led(self, on):
        if _take('led'):
            raise RuntimeError('sensor not responding')
        super().set_led(on)


class Tasks:
    """asyncio for main.py, with create_task failing on request."""

    def __getattr__(self, name):
        return getattr(asyncio, name)

    def create_task(self, coro):
        if _take('task'):
            raise MemoryError('no memory for a task')
        return asyncio.create_task(coro)


main.make_source = lambda: FaultySource(main.HERE + '/frames', fps=25)
main.asyncio = Tasks()


@main.app.get('/fault')
async def fault(request):
    name = request.args['name']
    n = int(request.args.get('n', 1))
    if name == 'big':
        src = main.broadcaster.source
        src.big = memoryview(bytearray(int(request.args['size'])))
        src.big[0], src.big[1] = 0xff, 0xd8
    faults[name] = n
    return 'ok'

main.main()
'''


@pytest.fixture
def faulty(serve, tmp_path):
    script = tmp_path / 'faulty_main.py'
    script.write_text(FAULTS)

    def start(*args, firmware_args=()):
        return serve(str(script), '--fps', '25', *args,
                     firmware_args=firmware_args)
    return start


def fault(server, **args):
    url = server.url + '/fault?' + '&'.join(
        '{}={}'.format(k, v) for k, v in args.items())
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b'ok'


@pytest.mark.parametrize('kind', ['driver error', 'MemoryError'])
def test_the_capture_loop_survives_errors(faulty, kind):
    # 1 MiB of heap: a 600 KB frame fits in the source, not in the pool.
    app = faulty(firmware_args=('-X', 'heapsize=1M'))

    async def go():
        a = await Client.connect(app)
        b = await Client.connect(app)
        await a.frames_until(5)
        if kind == 'driver error':
            fault(app, name='capture', n=5)
        else:
            fault(app, name='big', n=3, size=600000)
        t0 = time.monotonic()
        at = stats(app)['seq']
        # Both viewers, connected all along, get new frames again.
        await a.frames_after(at + 5)
        await b.frames_after(at + 5)
        resumed = time.monotonic() - t0
        await a.close()
        await b.close()
        return resumed

    resumed = run(go())
    s = stats(app)
    print('\n{}: {} failed captures, streaming again {:.1f} s after the '
          'fault'.format(kind, s['errors'], resumed))
    assert s['errors'] == (5 if kind == 'driver error' else 3), s
    assert app.alive()


def test_a_viewer_whose_writer_cannot_start_leaves_no_ghost(faulty):
    app = faulty()
    fault(app, name='task', n=1)

    async def go():
        ws = await websockets.connect(app.ws_url + '/ws', open_timeout=10)
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        left = stats(app)['viewers']
        # Not locked out: the whole viewer limit is still there.
        clients = [await Client.connect(app) for _ in range(4)]
        for c in clients:
            await c.frames_until(3)
        for c in clients:
            await c.close()
        return left

    left = run(go())
    assert left == []
    assert 'no memory for a task' in app.output()


def test_an_unexpected_driver_error_in_a_control_is_an_error_ack(faulty):
    app = faulty()
    fault(app, name='led', n=1)

    async def go():
        c = await Client.connect(app)
        ack = await c.ack('led', 1, value=True)
        assert ack['ok'] is False, ack
        assert 'sensor not responding' in ack['error'], ack
        # The viewer goes on: frames, and the next control works.
        await c.frames_until(len(c.frames) + 5)
        ack = await c.ack('led', 2, value=True)
        assert ack['ok'] and ack['state']['led'] is True, ack
        await c.close()

    run(go())
    assert app.alive()


# --- The access token ------------------------------------------------------

TOKEN = 'c0rrect-h0rse-battery-staple'


@pytest.fixture
def token_app(serve, tmp_path):
    path = tmp_path / 'token.txt'
    path.write_text(TOKEN + '\n')
    return serve(APP, '--fps', '25', '--token-file', str(path))


def _get(server, path, password=None, user='viewer'):
    """GET with the standard library's Basic authentication handler: like
    a browser, it sends the credentials in answer to the server's 401
    challenge. Returns (status, headers, body)."""
    handlers = []
    if password is not None:
        mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        mgr.add_password(None, server.url, user, password)
        handlers.append(urllib.request.HTTPBasicAuthHandler(mgr))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(server.url + path, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def _ws_status(server, password=None, user='viewer'):
    """The status line and headers an upgrade request to ``/ws`` gets,
    with ``user:password`` as Basic credentials (RFC 7617) if given.

    (A raw socket: the websockets client does not parse Microdot's
    HTTP/1.0 error responses.)
    """
    head = ('GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n'
            'Upgrade: websocket\r\nConnection: Upgrade\r\n'
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
            'Sec-WebSocket-Version: 13\r\n').format(server.port)
    if password is not None:
        creds = '{}:{}'.format(user, password).encode()
        head += 'Authorization: Basic {}\r\n'.format(
            base64.b64encode(creds).decode())
    with socket.create_connection(('127.0.0.1', server.port), 10) as s:
        s.sendall(head.encode() + b'\r\n')
        data = b''
        while b'\r\n\r\n' not in data:
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
    lines = data.split(b'\r\n\r\n')[0].decode().split('\r\n')
    headers = dict(line.split(': ', 1) for line in lines[1:])
    return lines[0], {k.lower(): v for k, v in headers.items()}


@pytest.mark.parametrize('password', [
    None, '', 'wrong', TOKEN[:-1], TOKEN + 'x', TOKEN.upper()])
def test_without_the_token_every_route_is_refused(token_app, password):
    for path in ('/', '/stats', '/stats?gc=1'):
        status, headers, body = _get(token_app, path, password)
        assert status == 401, (path, status, body)
        # The challenge a browser answers with its login prompt.
        assert headers['WWW-Authenticate'].startswith(
            'Basic realm="camera"'), headers
        assert b'CAMF' not in body and b'captured' not in body
    status, headers = _ws_status(token_app, password)
    assert status.split()[1] == '401', status
    assert headers['www-authenticate'].startswith('Basic realm="camera"')
    assert stats_with_token(token_app)['viewers'] == []
    assert token_app.alive()


@pytest.mark.parametrize('authorization, status', [
    ('Basic !!!', 401),
    ('Basic ' + base64.b64encode(TOKEN.encode()).decode(), 401),  # no ':'
    ('Bearer ' + TOKEN, 401),
    ('Basic', 401),
    ('Basic ' + 'QUFB' * 2000, 431),  # over the header line limit
])
def test_malformed_credentials_are_refused(token_app, authorization,
                                           status):
    req = urllib.request.Request(token_app.url + '/stats')
    req.add_header('Authorization', authorization)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == status
    assert stats_with_token(token_app)['viewers'] == []


def stats_with_token(server):
    status, _, body = _get(server, '/stats', TOKEN)
    assert status == 200, status
    return json.loads(body)


@pytest.mark.parametrize('user', ['viewer', 'anyone else', ''])
def test_with_the_token_page_stats_and_stream_work(token_app, user):
    status, headers, body = _get(token_app, '/', TOKEN, user)
    assert status == 200 and headers['Content-Type'].startswith('text/html')
    assert b'new WebSocket(' in body
    assert stats_with_token(token_app)['source']['source'] == 'synthetic'

    async def go():
        creds = '{}:{}@'.format(urllib.parse.quote(user), TOKEN)
        ws = await websockets.connect('ws://{}127.0.0.1:{}/ws'.format(
            creds, token_app.port), max_size=None, open_timeout=10)
        c = Client(ws)
        c.hello = await c.text(lambda m: m['type'] == 'hello')
        await c.frames_until(5)
        await c.close()
        return c

    c = run(go())
    assert unstamp(c.frames[-1])[2] in committed_frames('QVGA', 80)
    assert _ws_status(token_app, TOKEN, user)[0].split()[1] == '101'


def test_no_token_file_no_token(app):
    # The fixture's server has no --token-file: everything is open.
    assert _get(app, '/')[0] == 200
    assert _ws_status(app)[0] == 'HTTP/1.1 101 Switching Protocols'
    assert _ws_status(app, 'anything')[0].split()[1] == '101'


@pytest.mark.parametrize('content, error', [
    (None, 'cannot read the token file'),
    (' \n', 'is empty'),
])
def test_a_named_token_file_must_hold_a_token(run_mpy, tmp_path, content,
                                              error):
    path = tmp_path / 'token.txt'
    if content is not None:
        path.write_text(content)
    r = run_mpy(script=APP, args=['--port', '0', '--token-file', str(path)],
                timeout=20)
    assert r.returncode != 0
    assert error in r.stdout + r.stderr, r


# --- The LAN: DNS rebinding and cross-site pages ----------------------------

def _raw_status(server, request):
    with socket.create_connection(('127.0.0.1', server.port),
                                  timeout=10) as s:
        s.sendall(request.encode())
        return int(s.recv(4096).split(b' ', 2)[1])


@pytest.mark.parametrize('host, status', [
    ('127.0.0.1:{port}', 200), ('localhost:{port}', 200),
    ('esp32-cam', 200), ('ESP32-CAM.local', 200), ('192.168.4.1', 200),
    ('evil.example', 421), ('esp32-cam.evil.example', 421),
    ('evil.local', 421)])
def test_the_demo_answers_only_its_own_names(app, host, status):
    # A rebinding page's requests carry its own name in Host.
    host = host.format(port=app.port)
    for path in ('/', '/stats'):
        assert _raw_status(app, 'GET {} HTTP/1.1\r\nHost: {}\r\n\r\n'.format(
            path, host)) == status


@pytest.mark.parametrize('origin, status', [
    (None, 101), ('http://127.0.0.1:{port}', 101),
    ('https://evil.example', 403), ('null', 403),
    ('http://127.0.0.1', 403)])
def test_a_cross_site_page_cannot_open_the_stream(app, origin, status):
    # A page of another origin, which could drive the LED and read the
    # frames with the owner's cached credentials, gets 403.
    head = ('GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n'
            'Upgrade: websocket\r\nConnection: Upgrade\r\n'
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
            'Sec-WebSocket-Version: 13\r\n')
    if origin is not None:
        head += 'Origin: {}\r\n'.format(origin)
    head = head.format(port=app.port) + '\r\n'
    assert _raw_status(app, head) == status
