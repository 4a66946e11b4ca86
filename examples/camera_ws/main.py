"""Live camera over WebSocket: a Microdot app for the ESP32-CAM and unix.

``GET /`` is a self-contained viewer page (``index.html``); ``/ws`` streams
stamped JPEG frames as binary messages and takes JSON text control messages;
``GET /stats`` reports the server's counters. On the unix port the frames
are synthetic (``camsource``); on an ESP32-CAM they come from the camera.

Unix::

    build/unix/micropython examples/camera_ws/main.py --port 8080 \
        [--fps 25] [--stall-ms 10000] [--token-file PATH]

ESP32-CAM: copy ``main.py camstream.py camsource.py index.html`` and a
``/wifi.json`` (``{"ssid": "...", "password": "..."}``) to the board; it
serves on port 80 (see the README).

Access token (optional): when the board has a ``/token.txt`` (on unix:
``--token-file PATH``), ``/``, ``/stats`` and ``/ws`` answer ``401`` to a
request without it. It travels as the password of HTTP Basic
authentication (any user name), which a browser asks for once and then
sends by itself, on the WebSocket handshake too.

Control messages (client to server), each answered by an ``ack``::

    {"cmd": "size", "value": "QVGA"}        frame size (shared by all)
    {"cmd": "quality", "value": 60}         JPEG quality 1-100 (shared)
    {"cmd": "led", "value": true}           flash LED (shared)
    {"cmd": "pause"} / {"cmd": "resume"}    frames to this viewer only
    {"cmd": "ping", "t": 1234.5}            clock sync: ack has "ms"
    {"cmd": "stats"}                        this viewer's counters

An optional ``"id"`` is echoed. Acks are ``{"type": "ack", "cmd": ...,
"ok": true, ...}`` or ``{"type": "ack", "ok": false, "error": "..."}``.
"""
import gc
import hashlib
import json
import sys

import asyncio
from time import ticks_ms

from microdot import Microdot, Response
from microdot.auth import BasicAuth
from microdot.websocket import WebSocket, WebSocketError, with_websocket

import camsource
from camstream import TICKS_MASK, Broadcaster, Viewer

# This file's folder ('.' on a board, where it may also run without a
# __file__ through `mpremote run`).
_file = globals().get('__file__', '')
HERE = _file.rsplit('/', 1)[0] if '/' in _file else '.'

# Control messages are small: refuse anything bigger before reading it.
WebSocket.max_message_length = 512

#: The access token's file on a board (elsewhere: ``--token-file``).
TOKEN_FILE = '/token.txt'
#: The board's name on the network (DHCP, and mDNS: esp32-cam.local).
HOSTNAME = 'esp32-cam'

app = Microdot()
# Against DNS rebinding: answer only requests for an IP address (always
# accepted), localhost or the board's own names; others get 421. (The
# WebSocket's Origin check stops cross-site pages, and with them pages
# riding on the browser's cached credentials.)
app.allowed_hosts = ['localhost', HOSTNAME, HOSTNAME + '.local']
broadcaster = None


def _arg(name, default, kind=int):
    if name in sys.argv:
        return kind(sys.argv[sys.argv.index(name) + 1])
    return default


def _exit(message):
    # (MicroPython prints nothing for a SystemExit with a message.)
    print(message)
    raise SystemExit(1)


def _digest(text):
    return hashlib.sha256(text.encode()).digest()


def load_token():
    """The access token's SHA-256, or None: no file, no token."""
    board = sys.platform == 'esp32'
    path = _arg('--token-file', TOKEN_FILE if board else None, str)
    if path is None:
        return None
    try:
        with open(path) as f:
            token = f.read().strip()
    except OSError:
        if '--token-file' in sys.argv:
            _exit('cannot read the token file ' + path)
        return None
    if not token:
        _exit(path + ' is empty: put a token in it or delete it')
    return _digest(token)


TOKEN = load_token()
auth = BasicAuth(realm='camera')


@auth.authenticate
async def check_token(request, username, password):
    # Any user name: the password is the token. The digests are compared
    # in full, so the time taken says nothing about where they differ.
    d = 0
    for x, y in zip(_digest(password), TOKEN):
        d |= x ^ y
    return d == 0


def protected(route):
    """``route``, behind the access token if there is one."""
    return auth(route) if TOKEN else route


def make_broadcaster():
    Viewer.stall_ms = _arg('--stall-ms', Viewer.stall_ms)
    return Broadcaster(make_source())


def make_source():
    if camsource.Source is camsource.CameraSource:
        return camsource.CameraSource()
    return camsource.SyntheticSource(HERE + '/frames',
                                     fps=_arg('--fps', 25))


@app.get('/')
@protected
async def index(request):
    return Response.send_file(HERE + '/index.html',
                              content_type='text/html; charset=utf-8')


@app.get('/stats')
@protected
async def stats(request):
    # ?gc=1: collect first, for heap figures.
    if request.args.get('gc'):
        gc.collect()
    s = broadcaster.stats()
    s['mem_alloc'] = gc.mem_alloc()
    s['mem_free'] = gc.mem_free()
    s['source'] = broadcaster.source.state()
    return s


def _ack(cmd, msg_id, **fields):
    fields['type'] = 'ack'
    fields['cmd'] = cmd
    fields['ok'] = 'error' not in fields
    if msg_id is not None:
        fields['id'] = msg_id
    return json.dumps(fields)


def _int_value(msg, lo, hi):
    v = msg.get('value')
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ValueError('value must be an integer from {} to {}'.format(
            lo, hi))
    return v


def control(viewer, text):
    """Apply one control message from ``viewer``; return the ack (JSON,
    or a function making it, for :meth:`Viewer.reply`)."""
    if not isinstance(text, str):
        return _ack(None, None, error='control messages are JSON text')
    try:
        msg = json.loads(text)
    except ValueError:
        return _ack(None, None, error='not JSON')
    if not isinstance(msg, dict) or not isinstance(msg.get('cmd'), str):
        return _ack(None, None, error='expected an object with a "cmd"')
    cmd = msg['cmd']
    msg_id = msg.get('id')
    if not (msg_id is None or isinstance(msg_id, (int, str))):
        msg_id = None
    src = broadcaster.source
    try:
        if cmd == 'size':
            src.set_size(msg.get('value'))
        elif cmd == 'quality':
            src.set_quality(_int_value(msg, 1, 100))
        elif cmd == 'led':
            if not isinstance(msg.get('value'), bool):
                raise ValueError('value must be true or false')
            src.set_led(msg['value'])
        elif cmd in ('pause', 'resume'):
            viewer.pause(cmd == 'pause')
            broadcaster.wake()
            # (Counted as the ack goes out: the frame in flight is in.)
            return lambda: _ack(cmd, msg_id, **viewer.stats())
        elif cmd == 'ping':
            return _ack(cmd, msg_id, t=msg.get('t'),
                        ms=ticks_ms() & TICKS_MASK)
        elif cmd == 'stats':
            return lambda: _ack(cmd, msg_id, captured=broadcaster.captured,
                                **viewer.stats())
        else:
            raise ValueError('unknown command')
    except (ValueError, TypeError, OSError) as exc:
        return _ack(cmd, msg_id, error=str(exc))
    except Exception as exc:
        # Unexpected, from the driver: say so, and keep the viewer.
        sys.print_exception(exc)
        return _ack(cmd, msg_id, error='{}: {}'.format(
            type(exc).__name__, exc))
    # A shared setting changed: the other viewers get the new state.
    broadcaster.notify_state(viewer)
    return _ack(cmd, msg_id, state=src.state())


def _tune_socket(stream):
    """Make a viewer's socket suit live video (best effort).

    (microdot.websocket has turned Nagle's algorithm off already.)
    """
    s = getattr(stream, 's', None)  # MicroPython's asyncio Stream
    try:
        if sys.platform == 'linux':
            # Linux grows a socket's send buffer to megabytes: seconds of
            # video queued in the kernel for a slow viewer, when newest-
            # frame-wins should decide instead. (lwIP's is a few KiB.)
            # SOL_SOCKET, SO_SNDBUF: Linux values, not in the socket module.
            s.setsockopt(1, 7, 32 * 1024)
    except (AttributeError, OSError):
        pass


@app.route('/ws')
@protected
@with_websocket
async def stream(request, ws):
    _tune_socket(request.sock[1])
    if len(broadcaster.viewers) >= broadcaster.max_viewers:
        await ws.send(json.dumps({'type': 'error',
                                  'error': 'too many viewers'}))
        return
    viewer = Viewer(broadcaster, ws)
    writer = None
    try:
        await viewer.reply(json.dumps({
            'type': 'hello', 'viewer': viewer.id,
            'ms': ticks_ms() & TICKS_MASK,
            'state': broadcaster.source.state()}))
        broadcaster.add(viewer)
        writer = asyncio.create_task(viewer.run())
        while not viewer.closing:
            try:
                text = await ws.receive()
            except UnicodeError:
                text = b''  # invalid UTF-8 in a text message
            await viewer.reply(control(viewer, text))
    except (WebSocketError, OSError):
        pass  # the client left, or was evicted for not reading
    finally:
        broadcaster.remove(viewer)
        if writer is not None:
            await viewer.stop(writer)


async def serve(port):
    global broadcaster
    broadcaster = make_broadcaster()
    broadcaster.start()
    await app.start_server(port=port)


def wifi_connect(path='/wifi.json', timeout_ms=20000):
    """Join the network named in ``path``; return the IP address."""
    import network
    import time
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as exc:
        _exit('cannot read {} ({}): create it with {{"ssid": "...", '
              '"password": "..."}}'.format(path, exc))
    network.hostname(HOSTNAME)
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    if not sta.isconnected():
        sta.connect(cfg['ssid'], cfg.get('password', ''))
        t0 = time.ticks_ms()
        while not sta.isconnected():
            if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                _exit('could not join Wi-Fi network {!r}'.format(
                    cfg['ssid']))
            time.sleep_ms(200)
    return sta.ifconfig()[0]


def main():
    if sys.platform == 'esp32':
        host, port = wifi_connect(), _arg('--port', 80)
    else:
        host, port = 'localhost', _arg('--port', 8080)
    print('camera stream on http://{}:{}/{}'.format(
        host, port, ' (access token required)' if TOKEN else ''))
    asyncio.run(serve(port))


if __name__ == '__main__':
    main()
