"""microdot.websocket on a hostile LAN: the Origin policy, keepalive, and the
defects a review found (each test failed before its fix).

Servers are tests/ws_app.py on the unix firmware and on CPython (see
test_websocket.py). Oracles: RFC 6455 (4.2.1 Host, 10.2 Origin, 5.5.2-3
ping and pong, 7.4.1 close codes), RFC 4648 (canonical base64), Python's
``array`` for the bytes an array holds, and the socket itself (a FIN or a
reset, and when).
"""
import asyncio
import base64
import os
import struct
import time
from array import array

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from test_websocket import APP, app_fixture, count, run, upgrade, \
    wait_for_line
from test_websocket_cancel import read_to_eof, upgrade as raw_upgrade
from test_websocket_memory import heap_in_use
from wsraw import BINARY, CLOSE, CONT, PING, PONG, TEXT, RawClient, \
    close_payload, frame, http_exchange

srv = app_fixture()
srv_origins = app_fixture('--origins', 'https://dash.example,null')
srv_any_origin = app_fixture('--origins', '*')
srv_keepalive = app_fixture('--ping-interval', '1', '--ping-timeout', '1')
srv_nolimit = app_fixture('--max-message', '0')
srv_stuck = app_fixture('--close-timeout', '1')
srv_patient = app_fixture('--close-timeout', '30')


def status_of(server, **headers):
    return http_exchange(server.port, upgrade(**headers))[0]


# Origin (cross-site WebSocket hijacking)

def test_default_origin_policy(srv):
    own = '127.0.0.1:{}'.format(srv.port)
    assert status_of(srv) == 101                      # not a browser
    assert status_of(srv, Host=own, Origin='http://' + own) == 101
    assert status_of(srv, Host=own, Origin='HTTP://' + own.upper()) == 101
    # Behind a TLS proxy the page is https and the Host the same.
    assert status_of(srv, Host=own, Origin='https://' + own) == 101
    for origin in ('https://evil.example', 'null', 'http://127.0.0.1',
                   'http://127.0.0.1:1', 'file://', 'http://' + own + '.ev',
                   'chrome-extension://' + own, ''):
        assert status_of(srv, Host=own, Origin=origin) == 403, origin


def test_allowed_origins_add_to_the_default(srv_origins):
    own = '127.0.0.1:{}'.format(srv_origins.port)
    for origin, status in (('https://dash.example', 101),
                           ('HTTPS://DASH.example', 101),
                           ('null', 101), ('http://' + own, 101),
                           ('https://evil.example', 403),
                           ('http://dash.example', 403)):
        assert status_of(srv_origins, Host=own, Origin=origin) == status


def test_any_origin_when_opted_out(srv_any_origin):
    for origin in ('https://evil.example', 'null'):
        assert status_of(srv_any_origin, Origin=origin) == 101


def test_a_browser_like_client_of_another_origin_is_refused(srv):
    async def go(origin):
        async with connect(srv.ws_url + '/echo', origin=origin) as ws:
            await ws.send('x')
            return await ws.recv()
    assert run(go('http://127.0.0.1:{}'.format(srv.port))) == 'x'
    with pytest.raises(Exception):   # (websockets wants an HTTP/1.1 403)
        run(go('https://evil.example'))


# Keepalive

def _wait_event(client, timeout):
    client.sock.settimeout(timeout)
    return client.next_event()


def test_silent_client_is_pinged_then_dropped_with_1011(srv_keepalive):
    # ping_interval = ping_timeout = 1 s: a client that answers nothing
    # (a phone gone out of range) is pinged after 1 s, closed after 2 s.
    c = RawClient(srv_keepalive.port)
    t0 = time.monotonic()
    event = _wait_event(c, 5)
    pinged = time.monotonic() - t0
    assert type(event).__name__ == 'Ping'
    event = _wait_event(c, 5)
    closed = time.monotonic() - t0
    assert type(event).__name__ == 'CloseConnection' and event.code == 1011
    assert c.at_eof()
    print('\nkeepalive 1 s + 1 s: pinged after {:.2f} s, closed with 1011 '
          'after {:.2f} s'.format(pinged, closed))
    assert 0.9 < pinged < 2.5 and 1.9 < closed < 4


def test_any_frame_counts_as_life(srv_keepalive):
    # Unsolicited pongs (RFC 6455 5.5.3) every 0.5 s and no answer to the
    # pings: the client stays connected, then still echoes.
    c = RawClient(srv_keepalive.port)
    for _ in range(8):
        c.send(frame(PONG, b'alive'))
        time.sleep(0.5)
    c.send(frame(TEXT, b'still here'))
    assert c.message() == 'still here'
    c.close()


def test_a_client_answering_pings_stays(srv_keepalive):
    async def go():
        async with connect(srv_keepalive.ws_url + '/echo',
                           ping_interval=None) as ws:
            await asyncio.sleep(4)   # websockets answers the pings
            await ws.send('after 4 s')
            return await ws.recv()
    assert run(go()) == 'after 4 s'


# Defects

def test_handler_exception_closes_with_1011(srv):
    async def go():
        async with connect(srv.ws_url + '/raise') as ws:
            await ws.send('boom')
            with pytest.raises(ConnectionClosed) as exc:
                await ws.recv()
            return exc.value.rcvd.code
    assert run(go()) == 1011


@pytest.mark.parametrize('typecode, n', [('H', 2000), ('H', 10), ('i', 5),
                                         ('d', 300), ('b', 100)])
def test_send_counts_bytes_of_wide_arrays(srv, typecode, n):
    expected = array(typecode, range(n)).tobytes()   # host = server order
    c = RawClient(srv.port, '/array?type={}&n={}'.format(typecode, n))
    assert c.message() == expected   # a memoryview of the array
    assert c.message() == expected   # the array itself
    assert c.message() == 'done'
    c.close()


def test_no_second_close_frame(srv):
    before = count(srv, "close-twice: refused b''")
    c = RawClient(srv.port, '/close-twice')
    event = _wait_event(c, 5)
    assert type(event).__name__ == 'CloseConnection' and event.code == 1000
    c.send(frame(CLOSE, close_payload(1000)))
    assert c.pending == [] and c.raw_frames() == []   # nothing after it
    wait_for_line(srv, "close-twice: refused b''", before)
    assert count(srv, "close-twice: refused 'more'") > 0


@pytest.mark.parametrize('key', [
    'dGhlIHNhbXBsZSBub25jZR==', 'dGhlIHNhbXBsZSBub25jZf==',
    'AAAAAAAAAAAAAAAAAAAAAB==', '////////////////////////'[:22] + '=='])
def test_non_canonical_keys_are_refused(srv, key):
    # RFC 4648 3.5: the bits after the 16th byte must be zero. The oracle:
    # the canonical encoding of what the key decodes to differs from it.
    assert base64.b64encode(base64.b64decode(key)).decode() != key
    assert status_of(srv, Sec_WebSocket_Key=key) == 400


def test_canonical_keys_are_accepted(srv):
    for _ in range(20):
        key = base64.b64encode(os.urandom(16)).decode()
        assert status_of(srv, Sec_WebSocket_Key=key) == 101


def test_protocol_error_close_is_bounded_by_close_timeout(srv_stuck):
    # /stall: a task's 256 KiB send is stuck (the client reads nothing) when
    # the client breaks the protocol, keeping the stream in sync (an
    # unmasked frame: the server then waits for the client's Close). The
    # Close frame waits behind that send; the client starts reading 0.9 s
    # later, so it goes out then, and the client never answers it. The
    # whole close takes close_timeout (1 s here), not the 1 s for the Close
    # to go out plus 1 s for the answer.
    s, _ = raw_upgrade(srv_stuck.port, '/stall?size=262144')
    time.sleep(0.3)
    t0 = time.monotonic()
    s.sendall(frame(TEXT, b'x', mask=False))   # 1002
    time.sleep(0.9)
    data = read_to_eof(s, b'')
    seconds = time.monotonic() - t0
    print('\nprotocol error behind a stuck send: connection closed after '
          '{:.2f} s'.format(seconds))
    assert data.endswith(b'\x88\x02\x03\xea')   # Close 1002 went out
    assert 0.8 < seconds < 1.5


def test_ping_while_receive_is_cancelled_and_a_send_is_stuck(srv):
    # /stuck-idle: a 256 KiB send is stuck while receive() is cancelled every
    # 0.1 s. The ping arrives then; its pong must follow the stuck frame
    # once the client reads again (RFC 6455 5.5.2).
    s, rest = raw_upgrade(srv.port, '/stuck-idle?size=262144')
    s.sendall(frame(PING, b'are you there'))
    time.sleep(1)   # ten cancelled receive() calls
    s.sendall(frame(TEXT, b'echo me'))
    data = rest
    frames = []
    while len(frames) < 3:
        data += s.recv(1 << 16)
        while len(data) >= 2:
            n, i = data[1] & 127, 2
            if n == 126:
                n, i = struct.unpack('!H', data[2:4])[0], 4
            elif n == 127:
                n, i = struct.unpack('!Q', data[2:10])[0], 10
            if len(data) < i + n:
                break
            frames.append((data[0] & 15, data[i:i + n]))
            data = data[i + n:]
    s.sendall(frame(CLOSE, close_payload(1000)))
    read_to_eof(s, data)
    assert [(op, len(p)) for op, p in frames[:1]] == [(BINARY, 262144)]
    assert (PONG, b'are you there') in frames[1:]
    assert (TEXT, b'echo me') in frames[1:]


def test_close_after_a_cancelled_large_receive(srv_nolimit):
    # receive() is cancelled halfway through a 100 kB frame, then close():
    # the server must skip the rest of that payload, not parse it as
    # headers, and read on to the client's Close, so that the connection
    # ends with a FIN, not a reset (which unread data causes).
    before = count(srv_nolimit, 'close-after-cancel: closed')
    c = RawClient(srv_nolimit.port, '/close-after-cancel')
    data = frame(BINARY, os.urandom(100000))
    c.send(data[:1000])
    event = _wait_event(c, 5)   # the server's Close, after 0.3 s
    assert type(event).__name__ == 'CloseConnection' and event.code == 1000
    c.send(data[1000:] + frame(CLOSE, close_payload(1000)))
    c.sock.settimeout(5)
    assert c.sock.recv(100) == b''   # a FIN: ConnectionResetError if not
    c.close()
    wait_for_line(srv_nolimit, 'close-after-cancel: closed', before)


def test_fragment_flood_is_bounded(serve):
    # 20,000 empty continuation frames (120 kB) under a 1,000-byte limit
    # once grew the heap by 1.5 MB. Each fragment now counts as at least
    # 64 bytes: the 16th is over the limit and closes with 1009.
    server = serve(APP, '--accept-fragments', '--max-message', '1000')
    before = heap_in_use(server)
    c = RawClient(server.port)
    try:
        c.send(frame(TEXT, b'a', fin=False) +
               frame(CONT, b'', fin=False) * 20000)
    except OSError:
        pass   # the server may close before reading everything
    c.sock.settimeout(5)
    code = c.close_code()   # None without a Close: the old flood grew on
    c.close()
    after = heap_in_use(server)
    print('\nfragment flood: Close {}; heap {} -> {} bytes'.format(
        code, before, after))
    assert code == 1009
    assert after - before < 8192


@pytest.mark.parametrize('fragments', [1, 3000], ids=['one', 'many'])
def test_refused_message_drained_to_the_close_already_buffered(srv_patient,
                                                               fragments):
    # A fragmented message refused with 1003, its other fragments, then
    # the client's Close, all in one write: the server must read through
    # what it has buffered to that Close and end the connection with a
    # FIN at once (RFC 6455 7.1.1), not wait for bytes that never come
    # until close_timeout (30 s here) gives up. A drain that read again
    # after each frame skipped, whatever it held, did just that.
    c = RawClient(srv_patient.port)
    data = frame(TEXT, b'refused', fin=False)
    data += frame(CONT, b'x' * 64, fin=False) * fragments
    c.send(data + frame(CONT, b'end') + frame(CLOSE, close_payload(1000)))
    assert c.close_code() == 1003
    c.sock.settimeout(10)
    while True:
        chunk = c.sock.recv(4096)   # ConnectionResetError: not a FIN
        if not chunk:
            break
    c.close()
