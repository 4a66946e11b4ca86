"""WebSocket echo server: every message comes back as it was sent.

Run with the unix firmware::

    build/unix/micropython examples/echo.py --port 8080
        [--accept-fragments] [--max-message BYTES] [--bytearray]
        [--max-connections N]

``/echo`` is the endpoint. ``--accept-fragments`` reassembles fragmented
messages (closed with 1003 otherwise), ``--max-message`` sets
``WebSocket.max_message_length`` (0: no limit; default: the request body
limit, 16 KiB), ``--bytearray`` receives binary messages without a copy,
``--max-connections`` sets ``Microdot.max_connections`` (default 10).
Everything else is the firmware's default: the same-origin policy for
WebSockets, keepalive pings, and the server's limits and ``Host`` check.
"""
import sys

from microdot import Microdot
from microdot.websocket import WebSocket, with_websocket

app = Microdot()


@app.get('/echo')
@with_websocket
async def echo(request, ws):
    while True:
        await ws.send(await ws.receive())


def _option(argv, name, default=None):
    if name in argv:
        return argv[argv.index(name) + 1]
    return default


def configure(argv, default_port=8080):
    """Apply the command-line options to :class:`WebSocket` and
    :class:`Microdot`; return the port.

    Shared with the test app (tests/ws_app.py), which takes the same options.
    """
    WebSocket.accept_fragments = '--accept-fragments' in argv
    WebSocket.max_message_length = int(_option(argv, '--max-message', -1))
    if '--bytearray' in argv:
        WebSocket.binary_type = bytearray
    if '--max-connections' in argv:
        Microdot.max_connections = int(_option(argv, '--max-connections'))
    return int(_option(argv, '--port', default_port))


if __name__ == '__main__':
    port = configure(sys.argv)
    print('echo server on ws://localhost:{}/echo'.format(port))
    app.run(port=port)
