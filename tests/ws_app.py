"""WebSocket test app, for the unix firmware and for CPython.

``micropython tests/ws_app.py --port N [--max-message BYTES]
[--accept-fragments] [--bytearray]``. Routes:

* ``/echo`` and ``/private``: the two examples of the API specification
  (``/private`` wants ``Authorization: Bearer letmein``);
* ``/any``: ``with_websocket`` on a route that also takes POST;
* ``/types``: answers each message with the name of its Python type;
* ``/stream?n=N&size=S``: one task sends N binary frames of S bytes while
  the handler keeps receiving (answering pings), then sends ``"done"``;
* ``/flood?n=N``: sends N 16-byte messages in a tight loop, then ``"done"``;
* ``/idle``: echoes, with each ``receive()`` under a 0.1 s ``wait_for()``
  (the idle-timeout idiom): a quiet client cancels it again and again;
* ``/cancel-send?type=T&size=S``: sends S bytes of :func:`pattern` as
  ``T`` (bytes, bytearray or memoryview) under a 0.3 s ``wait_for()``, then
  closes, and prints what it saw, and whether the data it passed in is
  still its S bytes;
* ``/stall?size=S[&cancel=T]``: a task sends S bytes while the handler
  receives (another cancels it after T s); prints how ``receive()`` ended,
  then cancels the task (these two routes cap the socket's send buffer, so
  that a client reading nothing stops them);
* ``/body``: plain HTTP POST, answers with the request's body;
* ``/raise``: raises an exception after the first message;
* ``/array?type=T&n=N``: sends ``array(T, range(N))`` as a memoryview and as
  the array itself, then ``"done"``;
* ``/close-twice``: closes, then tries a second Close frame and a message,
  and prints what each did;
* ``/close-after-cancel``: one ``receive()`` under a 0.3 s ``wait_for()``,
  then ``close()``; prints how it went;
* ``/stuck-idle?size=S``: a task sends S bytes while the handler echoes
  with each ``receive()`` under a 0.1 s ``wait_for()`` (a client that reads
  nothing keeps the send stuck while receive() is cancelled again and
  again);
* ``/close-in-task?after=T``: another task calls ``close()`` T s in (0.2
  by default) while the handler waits in ``receive()``; prints how each
  ended;
* ``/collect?n=N``: receives N messages, keeping them all, then sends
  them back in order;
* ``/heap``: plain HTTP, the heap in use after a collection (MicroPython);
* ``/alloc?n=N``: receives one message and echoes it (a warm-up), then,
  with the collector disabled, receives N messages and sends the last one
  back N times;
  answers ``"R S"``, the bytes ``gc.mem_alloc()`` grew by during the N
  ``receive()`` calls and during the N ``send()`` calls (``-1 -1`` on
  CPython).

Besides echo.py's options, ``--ping-interval S``, ``--ping-timeout S``
(``none`` for ``None``), ``--close-timeout S`` and ``--origins A,B`` set
the ``WebSocket`` attributes of those names (``allowed_origins`` for the
last).
"""
import gc
import sys
from array import array

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio

from microdot import Microdot, abort
from microdot.websocket import WebSocket, WebSocketError, with_websocket, \
    websocket_upgrade

app = Microdot()


def authenticate(request):
    return request.headers.get('Authorization') == 'Bearer letmein'


@app.get('/echo')
@with_websocket
async def echo(request, ws):
    while True:
        msg = await ws.receive()
        await ws.send(msg)


@app.get('/private')
async def private(request):
    if not authenticate(request):
        abort(401)
    ws = await websocket_upgrade(request)
    while True:
        msg = await ws.receive()
        await ws.send(msg.upper())


@app.route('/any', methods=['GET', 'POST'])
@with_websocket
async def any_method(request, ws):
    await ws.send(await ws.receive())


@app.get('/types')
@with_websocket
async def types(request, ws):
    while True:
        msg = await ws.receive()
        await ws.send(type(msg).__name__)


@app.get('/stream')
@with_websocket
async def stream(request, ws):
    n = int(request.args.get('n', 10))
    size = int(request.args.get('size', 100000))

    async def sender():
        # MicroPython reports a task's exception if nobody awaits it yet.
        try:
            for i in range(n):
                await ws.send(bytes([i & 0xff]) * size)
            await ws.send('done')
        except (OSError, WebSocketError):
            pass

    task = asyncio.create_task(sender())
    try:
        while True:
            await ws.receive()
    except WebSocketError:
        pass
    await task


@app.get('/flood')
@with_websocket
async def flood(request, ws):
    # A tight loop of small sends with no other await in it.
    for i in range(int(request.args.get('n', 1000))):
        await ws.send(b'0123456789abcdef')
    await ws.send('done')


def _small_send_buffer(stream):
    """Cap the socket's send buffer (Linux's SOL_SOCKET, SO_SNDBUF): a
    client that reads nothing then soon stops the writes."""
    sock = getattr(stream, 's', None)   # MicroPython's asyncio stream
    if sock is None:
        sock = stream.get_extra_info('socket')   # CPython's
    sock.setsockopt(1, 7, 16384)


async def idle_echo(ws):
    """Echo, each receive() under a 0.1 s wait_for() (the idle-timeout
    idiom); until the connection ends."""
    while True:
        try:
            msg = await asyncio.wait_for(ws.receive(), 0.1)
        except asyncio.TimeoutError:
            continue
        await ws.send(msg)


@app.get('/idle')
@with_websocket
async def idle(request, ws):
    await idle_echo(ws)


@app.get('/cancel-send')
@with_websocket
async def cancel_send(request, ws):
    _small_send_buffer(request.sock[1])
    kind = request.args.get('type', 'bytes')
    size = int(request.args.get('size', 1 << 20))
    buf = pattern(size)
    if kind != 'bytes':
        buf = bytearray(buf)
    msg = memoryview(buf) if kind == 'memoryview' else buf
    try:
        await asyncio.wait_for(ws.send(msg), 0.3)
        sent = 'sent'
    except asyncio.TimeoutError:
        sent = 'timeout'
    try:
        await ws.close()
        closed = 'closed'
    except Exception as exc:
        closed = type(exc).__name__
    # Compared with a pattern built anew (buf is what msg views).
    print('cancel-send {} {} {} {} {}'.format(
        kind, sent, closed, len(msg) == size, buf == pattern(size)))


def pattern(size):
    """``size`` bytes counting 0 to 255 over and over."""
    return bytes(range(256)) * (size // 256) + bytes(range(size % 256))


@app.get('/stall')
@with_websocket
async def stall(request, ws):
    _small_send_buffer(request.sock[1])
    task = asyncio.create_task(ws.send(bytes(int(request.args.get(
        'size', 1 << 20)))))

    async def cancel(delay):
        await asyncio.sleep(delay)
        task.cancel()
    if 'cancel' in request.args:
        asyncio.create_task(cancel(float(request.args['cancel'])))
    try:
        await ws.receive()
    except WebSocketError as exc:
        print('stall: {}'.format(exc))
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, OSError, WebSocketError):
        pass


@app.get('/raise')
@with_websocket
async def fail(request, ws):
    await ws.receive()
    raise RuntimeError('handler failed on purpose')


@app.get('/array')
@with_websocket
async def send_array(request, ws):
    data = array(request.args.get('type', 'H'),
                 range(int(request.args.get('n', 2000))))
    await ws.send(memoryview(data))
    await ws.send(data)
    await ws.send('done')


@app.get('/close-twice')
@with_websocket
async def close_twice(request, ws):
    await ws.close()
    for data, opcode in ((b'', WebSocket.CLOSE), ('more', None)):
        try:
            await ws.send(data, opcode)
            print('close-twice: sent {!r}'.format(data))
        except WebSocketError:
            print('close-twice: refused {!r}'.format(data))


@app.get('/close-after-cancel')
@with_websocket
async def close_after_cancel(request, ws):
    try:
        await asyncio.wait_for(ws.receive(), 0.3)
        print('close-after-cancel: received')
    except asyncio.TimeoutError:
        pass
    await ws.close()
    print('close-after-cancel: closed')


@app.get('/stuck-idle')
@with_websocket
async def stuck_idle(request, ws):
    _small_send_buffer(request.sock[1])

    async def sender():
        try:
            await ws.send(bytes(int(request.args.get('size', 1 << 20))))
        except (OSError, WebSocketError):
            pass
    task = asyncio.create_task(sender())
    try:
        await idle_echo(ws)
    except WebSocketError:
        pass
    await task
    print('stuck-idle: ended')


@app.post('/body')
async def body(request):
    return request.body, {'Content-Type': 'application/octet-stream'}


@app.get('/close-in-task')
@with_websocket
async def close_in_task(request, ws):
    # Another task closes the connection while the handler is in receive().
    async def closer():
        await asyncio.sleep(float(request.args.get('after', 0.2)))
        await ws.close()
        print('close-in-task: close() returned')
    task = asyncio.create_task(closer())
    try:
        msg = await ws.receive()
        print('close-in-task: received {!r}'.format(msg))
    except WebSocketError as exc:
        print('close-in-task: {}'.format(exc))
    await task


@app.get('/collect')
@with_websocket
async def collect(request, ws):
    # Each message must still be itself once later ones came in.
    messages = []
    for i in range(int(request.args.get('n', 2))):
        messages.append(await ws.receive())
    for msg in messages:
        await ws.send(msg)


@app.get('/alloc')
@with_websocket
async def alloc(request, ws):
    n = int(request.args.get('n', 100))
    msg = await ws.receive()
    await ws.send(msg)
    if not hasattr(gc, 'mem_alloc'):   # CPython
        await ws.send('-1 -1')
        return
    # Counted without a for loop or anything else that allocates.
    gc.collect()
    gc.disable()
    try:
        i = received = 0
        while i < n:
            before = gc.mem_alloc()
            msg = await ws.receive()
            received += gc.mem_alloc() - before
            i += 1
        i = 0
        before = gc.mem_alloc()
        while i < n:
            await ws.send(msg)
            i += 1
        sent = gc.mem_alloc() - before
    finally:
        gc.enable()
    await ws.send('{} {}'.format(received, sent))


@app.get('/heap')
async def heap(request):
    gc.collect()
    try:
        return str(gc.mem_alloc())
    except AttributeError:   # CPython
        return '0'


if __name__ == '__main__':
    # The options are examples/echo.py's.
    sys.path.append((__file__.rpartition('/')[0] or '.') + '/../examples')
    from echo import _option, configure
    port = configure(sys.argv, default_port=5000)
    for name in ('ping-interval', 'ping-timeout', 'close-timeout'):
        value = _option(sys.argv, '--' + name)
        if value is not None:
            setattr(WebSocket, name.replace('-', '_'),
                    None if value == 'none' else float(value))
    if '--origins' in sys.argv:
        WebSocket.allowed_origins = _option(sys.argv, '--origins').split(',')
    print('ws_app on port {}'.format(port))
    app.run(port=port)
