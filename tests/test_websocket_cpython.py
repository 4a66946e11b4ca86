"""microdot.websocket on CPython, beside upstream Microdot 2.7.0 from pip.

The behaviour tests run on CPython too (test_websocket.py, ``[cpython]``);
these check the set-up they rely on and upstream compatibility.
"""
import asyncio
import importlib.util
import os
import sys

import pytest

from conftest import FROZEN_MICRODOT as FROZEN, ROOT, start_server


@pytest.fixture(scope='module')
def ours(our_websocket):
    return our_websocket


@pytest.fixture(scope='module')
def upstream():
    """Upstream's microdot.websocket, loaded beside ours under its own name.
    """
    import microdot
    path = os.path.join(os.path.dirname(microdot.__file__), 'websocket.py')
    spec = importlib.util.spec_from_file_location('upstream_websocket', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_server_runs_upstream_microdot_with_our_layer_and_python_codec():
    server = start_server(sys.executable,
                          os.path.join(ROOT, 'tests', 'cpython_server.py'))
    try:
        line = server.output().splitlines()[0]
    finally:
        server.stop()
    import microdot
    assert line == ('microdot 2.7.0 from {}; websocket from {}; codec '
                    'microdot._ws_mask'.format(
                        os.path.dirname(microdot.__file__),
                        os.path.join(FROZEN, 'websocket.py')))


@pytest.mark.parametrize('opcode, n', [
    (opcode, n) for opcode in (1, 2, 8, 9, 10)
    for n in (0, 1, 125, 126, 65535, 65536) if opcode < 8 or n <= 125])
def test_encode_websocket_frame_as_upstream(ours, upstream, opcode, n):
    payload = 'é' * (n // 2) + 'x' * (n % 2) if opcode == 1 else \
        os.urandom(n)
    assert ours.WebSocket._encode_websocket_frame(opcode, payload) == \
        upstream.WebSocket._encode_websocket_frame(opcode, payload)


@pytest.mark.parametrize('header', [b'\x81\x05', b'\x82\x7e', b'\x82\xff',
                                    b'\x89\x80', b'\x8a\x7d'])
def test_parse_frame_header_as_upstream(ours, upstream, header):
    assert ours.WebSocket._parse_frame_header(header) == \
        upstream.WebSocket._parse_frame_header(header)


@pytest.mark.parametrize('header', [b'\x01\x05', b'\x80\x05'])
def test_parse_frame_header_refuses_fragments_as_upstream(ours, upstream,
                                                          header):
    with pytest.raises(ours.WebSocketError):
        ours.WebSocket._parse_frame_header(header)
    with pytest.raises(upstream.WebSocketError):
        upstream.WebSocket._parse_frame_header(header)


def asgi_session(app, path, incoming):
    """Run one WebSocket connection of an ASGI ``app`` as an ASGI server
    would: ``incoming`` are the events it receives; return those it sent.
    """
    events = list(incoming)
    sent = []

    async def receive():
        return events.pop(0)

    async def send(event):
        sent.append(event)

    scope = {'type': 'websocket', 'path': path, 'query_string': b'',
             'headers': [(b'host', b'test')], 'http_version': '1.1',
             'scheme': 'ws', 'client': ('127.0.0.1', 50000)}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    return sent


def test_asgi_app_runs_on_our_layer(ours, capsys):
    # microdot.asgi subclasses our WebSocket (its ASGI I/O over our
    # constructor) and wraps routes with our websocket_wrapper: an echo
    # app must speak the ASGI WebSocket protocol (accept, send, close).
    import microdot.asgi
    assert issubclass(microdot.asgi.WebSocket, ours.WebSocket)
    app = microdot.asgi.Microdot()

    @app.get('/echo')
    @microdot.asgi.with_websocket
    async def echo(request, ws):
        while True:
            await ws.send(await ws.receive())

    @app.get('/once')
    @microdot.asgi.with_websocket
    async def once(request, ws):
        await ws.send(await ws.receive())

    # The client leaves: the handler ends quietly and closes.
    assert asgi_session(app, '/echo', [
        {'type': 'websocket.connect'},
        {'type': 'websocket.receive', 'text': 'héllo'},
        {'type': 'websocket.receive', 'bytes': b'\x00\xff'},
        {'type': 'websocket.disconnect', 'code': 1000},
    ]) == [
        {'type': 'websocket.accept'},
        {'type': 'websocket.send', 'text': 'héllo'},
        {'type': 'websocket.send', 'bytes': b'\x00\xff'},
        {'type': 'websocket.close'},
    ]
    # The handler returns: the wrapper closes the connection.
    assert asgi_session(app, '/once', [
        {'type': 'websocket.connect'},
        {'type': 'websocket.receive', 'text': 'once'},
    ]) == [
        {'type': 'websocket.accept'},
        {'type': 'websocket.send', 'text': 'once'},
        {'type': 'websocket.close'},
    ]
    out, err = capsys.readouterr()
    assert 'Traceback' not in out + err, out + err


def test_test_client_is_refused_as_documented(ours):
    # microdot.test_client's websocket() speaks HTTP/1.0 and sends unmasked
    # frames; RFC 6455 4.1 and 5.1 make the server refuse both.
    from microdot import Microdot
    from microdot.test_client import TestClient
    app = Microdot()

    @app.get('/echo')
    @ours.with_websocket
    async def echo(request, ws):
        await ws.send(await ws.receive())

    def client():
        yield 'hello'

    res = asyncio.run(TestClient(app).websocket('/echo', client))
    assert res.status_code == 400
