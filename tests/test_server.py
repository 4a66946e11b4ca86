"""The hardened HTTP server (microdot.server) against hostile clients.

``from microdot import Microdot`` is this server on the firmware; the test
app (tests/ws_app.py, with examples/echo.py's options) runs with every
default. Clients are raw sockets sending what a browser never would, or
what a hostile neighbour on the LAN would: rebinding ``Host`` headers,
request heads sent slowly or never finished, floods of headers, more
connections than the board has sockets. The oracles are the HTTP RFCs
(9110, 9112, 6585) and the socket itself: whether and when the server
closes it. The heap is measured inside the firmware (``/heap``).

The fast checks run on the firmware and on CPython; the ones that wait for
the server's timeouts run on the firmware only, all at once.
"""
import http.client
import socket
import time

import pytest

from test_websocket import APP, app_fixture, echo_all, run, upgrade
from test_websocket_memory import heap_in_use
from wsraw import http_exchange

srv = app_fixture()

# The defaults of microdot.server.Microdot (see its docs and README).
REQUEST_TIMEOUT = 10
IDLE_TIMEOUT = 5
MAX_CONNECTIONS = 10
MAX_HEAD = 8192


def get(path='/heap', host='127.0.0.1', version='HTTP/1.1', extra=''):
    host = '' if host is None else 'Host: {}\r\n'.format(host)
    return '{} {} {}\r\n{}{}\r\n'.format(
        'GET', path, version, host, extra).encode()


@pytest.mark.parametrize('host', [
    'evil.example', 'evil.example:8080', 'localhost.evil.example',
    'xlocalhost', '127.0.0.1.evil.example', 'EVIL.example.'])
def test_rebinding_host_is_refused_with_421(srv, host):
    # DNS rebinding: a name the attacker controls, resolving to the board.
    status, _, _ = http_exchange(srv.port, get(host=host))
    assert status == 421
    status, _, _ = http_exchange(srv.port, upgrade(Host=host))
    assert status == 421


@pytest.mark.parametrize('host', [
    '127.0.0.1', '127.0.0.1:{port}', '10.0.0.7:80', 'localhost',
    'LOCALHOST:{port}', 'localhost.', '[::1]:{port}', '[fe80::1]'])
def test_ip_literals_and_localhost_are_served(srv, host):
    status, _, _ = http_exchange(srv.port, get(host=host.format(
        port=srv.port)))
    assert status == 200


@pytest.mark.parametrize('request_bytes, status', [
    (get(host=None), 400),                     # HTTP/1.1 needs Host
    (get(host=None, version='HTTP/1.0'), 200),  # HTTP/1.0 has none
    (upgrade(Host=None), 400),                 # RFC 6455 4.2.1
    (get(extra='Host: 127.0.0.1\r\n'), 400),   # two Host headers
    (get(host='127.0.0.1:x'), 400),            # malformed Host
    (b'GET /heap\r\n\r\n', 400),               # no version
    (b'GET /heap SPDY/1.1\r\nHost: a\r\n\r\n', 400),
    (b'\xff\xfe /heap HTTP/1.1\r\nHost: a\r\n\r\n', 400),
    (get(extra='no colon here\r\n'), 400),
    (get(extra='Content-Length: many\r\n'), 400),
], ids=['no-host', 'http10-no-host', 'upgrade-no-host', 'two-hosts',
        'bad-host', 'no-version', 'not-http', 'not-utf8', 'bad-header',
        'bad-length'])
def test_malformed_requests(srv, request_bytes, status):
    got, _, _ = http_exchange(srv.port, request_bytes)
    assert got == status


def test_long_request_line_is_414_and_long_header_431(srv):
    status, _, _ = http_exchange(srv.port, get('/' + 'a' * 3000))
    assert status == 414
    status, _, _ = http_exchange(srv.port, get(extra='X: {}\r\n'.format(
        'b' * 3000)))
    assert status == 431


def test_header_count_and_size_caps(srv):
    many = ''.join('X-{}: y\r\n'.format(i) for i in range(31))
    assert http_exchange(srv.port, get(extra=many))[0] == 200   # 32
    many += 'X-31: y\r\n'
    assert http_exchange(srv.port, get(extra=many))[0] == 431
    big = ''.join('X-{}: {}\r\n'.format(i, 'v' * 270) for i in range(28))
    assert len(get(extra=big)) < MAX_HEAD
    assert http_exchange(srv.port, get(extra=big))[0] == 200
    big += ''.join('Y-{}: {}\r\n'.format(i, 'v' * 270) for i in range(3))
    assert len(get(extra=big)) > MAX_HEAD
    assert http_exchange(srv.port, get(extra=big))[0] == 431


@pytest.mark.parametrize('size', [0, 1, 511, 512, 513, 5000, 16384])
def test_body_read_with_the_head_reaches_the_route(srv, size):
    # The server reads a small body with the head, in the same reads;
    # upstream's parser then gets both from memory.
    body = bytes(i * 7 & 0xff for i in range(size))
    conn = http.client.HTTPConnection('127.0.0.1', srv.port, timeout=10)
    conn.request('POST', '/body', body=body)
    reply = conn.getresponse()
    assert (reply.status, reply.read()) == (200, body)
    conn.close()


def _stalled(port, data):
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    if data:
        s.sendall(data)
    return s, time.monotonic()


def _closed_after(s, t0):
    """Read to the end; return (seconds from t0, what was read)."""
    reply = b''
    try:
        while True:
            data = s.recv(4096)
            if not data:
                break
            reply += data
    except OSError:   # a reset, when the server left data unread
        pass
    s.close()
    return time.monotonic() - t0, reply


def test_header_flood_is_cut_off_and_costs_no_memory(serve):
    # ~4,000 distinct 210-byte headers once ran a 2 MiB heap out of memory
    # (Microdot keeps every header in a dict). Stream them until the
    # server answers.
    server = serve(APP)
    before = heap_in_use(server)
    s = socket.create_connection(('127.0.0.1', server.port), timeout=10)
    s.sendall(get()[:-2])
    sent = 0
    try:
        for i in range(4000):
            s.sendall('X-Flood-{:05}: {}\r\n'.format(i, 'f' * 194).encode())
            sent += 210
    except OSError:
        pass   # the server closed the connection while we were sending
    _, reply = _closed_after(s, 0)
    after = heap_in_use(server)
    print('\nheader flood: {} bytes sent before the server stopped '
          'reading; heap {} -> {} bytes'.format(sent, before, after))
    # The reply may be lost to the reset that unread data causes; when it
    # arrives it is 431 (RFC 6585 5).
    assert reply == b'' or reply.startswith(b'HTTP/1.0 431 ')
    assert sent < 4000 * 210
    assert after - before < 8192
    assert http_exchange(server.port, get())[0] == 200


def test_stalled_and_silent_clients_are_dropped_and_others_served(serve):
    # Slowloris beside normal use: half-sent request lines and silent
    # connections, fewer than the cap, while a page and a WebSocket are
    # served; then more than the cap.
    server = serve(APP)
    half = [_stalled(server.port, b'GET /heap HTT') for _ in range(6)]
    silent = [_stalled(server.port, b'') for _ in range(2)]
    t = time.monotonic()
    assert http_exchange(server.port, get())[0] == 200
    assert run(echo_all(server.ws_url + '/echo', ['still served'])) == \
        ['still served']
    served_in = time.monotonic() - t
    # 8 held: 2 more fill the cap; the rest are refused at once.
    more = [_stalled(server.port, b'GET / HTTP/1.1\r\nHost: a\r\n')
            for _ in range(MAX_CONNECTIONS - len(half) - len(silent))]
    refused = []
    for _ in range(6):
        s, t0 = _stalled(server.port, b'')
        refused.append(_closed_after(s, t0))
    quiet = [_closed_after(s, t0) for s, t0 in silent]   # in time order
    drops = [_closed_after(s, t0) for s, t0 in half + more]
    print('\nstalled heads: page and WebSocket served in {:.2f} s beside '
          '{} held sockets; {} over the cap refused in {:.3f} s at most; '
          'half-sent heads dropped after {:.1f}-{:.1f} s, silent '
          'connections after {:.1f}-{:.1f} s'.format(
              served_in, len(half) + len(silent), len(refused),
              max(t for t, _ in refused),
              min(t for t, _ in drops), max(t for t, _ in drops),
              min(t for t, _ in quiet), max(t for t, _ in quiet)))
    for seconds, reply in refused:
        assert reply.startswith(b'HTTP/1.0 503 ') and seconds < 2
    for seconds, reply in drops:
        assert reply.startswith(b'HTTP/1.0 408 ')
        assert REQUEST_TIMEOUT - 0.5 < seconds < REQUEST_TIMEOUT + 3
    for seconds, reply in quiet:
        assert reply == b''
        assert IDLE_TIMEOUT - 0.5 < seconds < IDLE_TIMEOUT + 3
    assert http_exchange(server.port, get())[0] == 200
    assert 'Traceback' not in server.output()
