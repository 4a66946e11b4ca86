"""microdot.websocket, driven by independent clients.

Each test runs against the unix firmware (with the ws_mask C module) and
against CPython 3 with upstream Microdot from pip and the pure-Python codec
(tests/cpython_server.py). websockets (asyncio) and websocket-client
(threads) are the well-behaved clients; raw sockets send what they would
never send, and wsproto parses the answers (see wsraw.py). Every server runs
for a whole module and must still be alive, echoing and free of tracebacks
at the end.
"""
import asyncio
import base64
import ctypes
import hashlib
import os
import socket
import struct
import sys
import threading
import time

import pytest
import websocket as wsclient   # websocket-client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conftest import ROOT, start_server
from wsraw import BINARY, CLOSE, CONT, PING, PONG, TEXT, RawClient, \
    close_payload, frame, http_exchange

APP = os.path.join(ROOT, 'tests', 'ws_app.py')
RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ=='   # RFC 6455 1.3
RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
LIMIT = 16 * 1024   # Request.max_body_length, the default message limit


CPYTHON_APP = os.path.join(ROOT, 'tests', 'cpython_server.py')


def start_app(runtime, micropython, *args, firmware_args=()):
    """Start ws_app on ``runtime`` ('firmware' or 'cpython'); the server's
    ``runtime`` attribute says which."""
    if runtime == 'cpython':
        server = start_server(sys.executable, CPYTHON_APP, *args)
    else:
        server = start_server(micropython, APP, *args,
                              firmware_args=firmware_args)
    server.runtime = runtime
    return server


def still_serving(server):
    """The server is alive and echoes on a fresh connection."""
    assert server.alive(), server.output()
    c = RawClient(server.port)
    c.send_message('still here')
    assert c.message() == 'still here'
    c.close()


def count(server, line):
    """How many times ``server`` printed ``line``."""
    return server.output().splitlines().count(line)


def wait_for_line(server, line, before, timeout=5):
    """Wait until ``server`` has printed ``line`` once more than
    ``before`` times."""
    deadline = time.monotonic() + timeout
    while count(server, line) <= before:
        assert time.monotonic() < deadline, server.output()[-2000:]
        time.sleep(0.05)


def app_fixture(*args):
    @pytest.fixture(scope='module', params=['firmware', 'cpython'])
    def fixture(request, micropython):
        server = start_app(request.param, micropython, *args)
        yield server
        try:
            still_serving(server)
        finally:
            out = server.stop()
        assert unexpected_tracebacks(out) == [], out
    return fixture


def unexpected_tracebacks(output):
    """Tracebacks in a server's output, but for the spec's /private route
    and /raise.

    That example lets WebSocketError escape when the client closes, which
    Microdot reports (and, thanks to our hook, writes nothing after);
    /raise fails on purpose.
    """
    found = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith('Traceback (most recent call last):'):
            j = i + 1
            while j < len(lines) and lines[j].startswith(' '):
                j += 1
            block = lines[i:j + 1]
            if block[-1].endswith('RuntimeError: handler failed on purpose'):
                continue
            if not (any(f.endswith('in private') for f in block) and
                    block[-1].endswith('WebSocketError: Websocket '
                                       'connection closed')):
                found.append('\n'.join(block))
    return found


srv = app_fixture()
srv_frag = app_fixture('--accept-fragments', '--max-message', '100000')
srv_limit = app_fixture('--max-message', '1000')
srv_nolimit = app_fixture('--max-message', '0')
srv_bytearray = app_fixture('--bytearray', '--max-message', '0')
srv_many = app_fixture('--max-connections', '64')
srv_bytearray_frag = app_fixture('--bytearray', '--accept-fragments',
                                 '--max-message', '0')


def run(coro):
    return asyncio.run(coro)


async def echo_all(url, messages):
    async with connect(url, compression=None, max_size=None) as ws:
        out = []
        for m in messages:
            await ws.send(m)
            out.append(await ws.recv())
        return out


def payload_of(n, text):
    """n bytes of text (with multi-byte characters) or of binary."""
    if text:
        s = ('aé€😀' * (n // 10 + 1)).encode()[:n].decode('utf-8', 'ignore')
        return s + 'x' * (n - len(s.encode()))
    return bytes((i * 7 + 3) & 0xff for i in range(n))


# Lengths on each side of the 7/16/64-bit length encodings, of the
# receive buffer (256 bytes, header included) and of the one-write send.
BOUNDARIES = [0, 1, 2, 3, 4, 5, 125, 126, 127, 241, 242, 248, 249, 250,
              1023, 1024, 1025, 4096, LIMIT]
BIG = [LIMIT + 1, 65535, 65536, 65537, 300000]


@pytest.mark.parametrize('text', [True, False], ids=['text', 'binary'])
def test_echo_each_length_boundary(srv, text):
    messages = [payload_of(n, text) for n in BOUNDARIES]
    assert run(echo_all(srv.ws_url + '/echo', messages)) == messages


@pytest.mark.parametrize('text', [True, False], ids=['text', 'binary'])
def test_echo_large_messages_without_limit(srv_nolimit, text):
    messages = [payload_of(n, text) for n in BIG]
    assert run(echo_all(srv_nolimit.ws_url + '/echo', messages)) == messages


def test_receive_returns_str_and_bytes(srv):
    got = run(echo_all(srv.ws_url + '/types',
                       ['', 'x', b'', b'x', b'y' * 5000, 'z' * 5000]))
    assert got == ['str', 'str', 'bytes', 'bytes', 'bytes', 'str']


def test_binary_type_bytearray(srv_bytearray):
    # Small (from the receive buffer) and large (own buffer) alike.
    got = run(echo_all(srv_bytearray.ws_url + '/types',
                       [b'', b'x', b'y' * 100000, 'text']))
    assert got == ['bytearray', 'bytearray', 'bytearray', 'str']
    big = payload_of(100000, False)
    assert run(echo_all(srv_bytearray.ws_url + '/echo', [big])) == [big]


def test_pipelined_messages(srv):
    # Many frames in one TCP write: several per read of the receive buffer.
    c = RawClient(srv.port)
    messages = [payload_of(n % 300, n % 2 == 0) for n in range(400)]
    c.send(b''.join(frame(TEXT if isinstance(m, str) else BINARY,
                          m.encode() if isinstance(m, str) else m)
                    for m in messages))
    assert [c.message() for _ in messages] == messages
    c.close()


def test_frame_split_in_every_possible_place(srv):
    # One frame delivered byte by byte still echoes.
    c = RawClient(srv.port)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for payload in (b'abc', payload_of(300, False)):
        for b in frame(BINARY, payload):
            c.send(bytes([b]))
        assert c.message() == payload
    c.close()


def test_websocket_client_library(srv):
    ws = wsclient.create_connection(srv.ws_url + '/echo', timeout=10)
    ws.send('héllo')
    assert ws.recv() == 'héllo'
    ws.send_binary(b'\x00\xff' * 1000)
    assert ws.recv() == b'\x00\xff' * 1000
    ws.ping('are you there')
    opcode, data = ws.recv_data_frame(True)
    assert (opcode, data.data) == (wsclient.ABNF.OPCODE_PONG,
                                   b'are you there')
    # The close handshake, frame by frame: websocket-client parses the
    # server's answer, which echoes the code without the reason (RFC 6455
    # 5.5.1), and the server then ends the TCP connection (7.1.1).
    ws.send_close(status=4001, reason=b'bye')
    answer = ws.recv_frame()
    assert (answer.opcode, answer.data) == (wsclient.ABNF.OPCODE_CLOSE,
                                            struct.pack('!H', 4001))
    ws.sock.settimeout(5)
    assert ws.sock.recv(1) == b''
    ws.shutdown()


# Ping, pong, close.

@pytest.mark.parametrize('size', [0, 1, 125])
def test_ping_answered_with_same_payload(srv, size):
    c = RawClient(srv.port)
    payload = os.urandom(size)
    c.send(frame(PING, payload))
    event = c.next_event()
    assert type(event).__name__ == 'Pong' and event.payload == payload
    c.close()


def test_pong_dropped_and_ping_between_messages(srv):
    c = RawClient(srv.port)
    c.send(frame(PONG, b'unsolicited') + frame(TEXT, b'one') +
           frame(PING, b'p') + frame(TEXT, b'two'))
    assert c.message() == 'one'
    event = c.next_event()
    assert type(event).__name__ == 'Pong' and event.payload == b'p'
    assert c.message() == 'two'
    c.close()


def test_websockets_ping_pong(srv):
    async def go():
        async with connect(srv.ws_url + '/echo', compression=None,
                           ping_interval=None) as ws:
            # websockets resolves the waiter only on a pong carrying this
            # ping's payload (it ignores any other): a wrong or missing
            # pong is a timeout here.
            await asyncio.wait_for(await ws.ping(b'data'), 10)
            await ws.send('after')
            return await ws.recv()
    assert run(go()) == 'after'


@pytest.mark.parametrize('code', [1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                  1010, 1011, 1012, 1013, 1014, 3000, 3999,
                                  4000, 4999])
def test_close_code_echoed_and_server_closes_tcp(srv, code):
    c = RawClient(srv.port)
    c.send(frame(CLOSE, close_payload(code, 'bye é'.encode())))
    # Read to EOF: the server closes the TCP connection after its Close.
    assert c.raw_frames() == [(1, CLOSE, close_payload(code))]
    c.close()


def test_empty_close_answered_with_empty_close(srv):
    c = RawClient(srv.port)
    c.send(frame(CLOSE))
    assert c.close_code() == 1005   # wsproto: no status code in the frame
    assert c.at_eof()
    c.close()


def test_websockets_close_handshake(srv):
    async def go():
        async with connect(srv.ws_url + '/echo', compression=None) as ws:
            await ws.close(code=4321, reason='done')
            return ws.close_code, ws.close_reason
    # The server's echo of our code is what websockets reports as received.
    assert run(go()) == (4321, '')


@pytest.mark.parametrize('payload', [
    b'\x03',                                   # 1 byte: no room for a code
    close_payload(0), close_payload(999), close_payload(1004),
    close_payload(1005), close_payload(1006), close_payload(1015),
    close_payload(1016), close_payload(2000), close_payload(2999),
    close_payload(5000), close_payload(65535),
], ids=lambda p: p.hex())
def test_invalid_close_frame_is_1002(srv, payload):
    c = RawClient(srv.port)
    c.send(frame(CLOSE, payload))
    assert c.close_code() == 1002
    c.close()


def test_close_reason_not_utf8_is_1007(srv):
    c = RawClient(srv.port)
    c.send(frame(CLOSE, close_payload(1000, b'\xce\xba\xed\xa0\x80')))
    assert c.close_code() == 1007
    c.close()


def test_server_close_sends_1000(srv):
    # /any returns after one message: with_websocket closes with 1000.
    c = RawClient(srv.port, '/any')
    c.send_message(b'once')
    assert c.message() == b'once'
    assert c.close_code() == 1000
    c.send(frame(CLOSE, close_payload(1000)))
    assert c.at_eof()
    c.close()


def test_close_from_another_task_during_receive(srv):
    # /close-in-task: a task calls close() while the handler waits in
    # receive(). The client gets Close 1000 and answers it; then close()
    # has returned, receive() raises (no message made of the Close), and
    # the server ends the TCP connection.
    lines = ['close-in-task: close() returned',
             'close-in-task: Websocket connection closed']
    before = [count(srv, line) for line in lines]
    c = RawClient(srv.port, '/close-in-task')
    assert c.close_code() == 1000
    c.send(frame(CLOSE, close_payload(1000)))
    assert c.at_eof()
    c.close()
    for line, n in zip(lines, before):
        wait_for_line(srv, line, n)
    assert 'close-in-task: received' not in srv.output()


# How long the server waits for the client's Close before it ends the TCP
# connection itself (WebSocket.close_timeout, 2 s), with a wide margin.
LINGER_BOUND = 5


def _close_without_answer(server, how):
    """Have the server send a Close, by ``how``; return the client."""
    if how == 'handler-returns':
        c = RawClient(server.port, '/any')   # returns after one message
        c.send_message(b'once')
        assert c.message() == b'once'
        code = 1000
    elif how == 'over-limit':
        c = RawClient(server.port)
        c.send(frame(BINARY, length=LIMIT + 1))   # the header alone
        code = 1009
    elif how == 'invalid-utf8':
        c = RawClient(server.port)
        c.send(frame(TEXT, b'\xff'))
        code = 1007
    else:
        c = RawClient(server.port, '/close-in-task')
        code = 1000
    assert c.close_code() == code
    return c


@pytest.mark.parametrize('how', [
    'handler-returns', 'over-limit', 'invalid-utf8', 'close-in-task'])
def test_server_ends_tcp_when_client_never_answers_close(srv, how):
    # The client reads the server's Close and never answers it: the
    # server must still end the TCP connection, within a bound (RFC 6455
    # 7.1.1: the server closes the TCP connection first).
    c = _close_without_answer(srv, how)
    start = time.monotonic()
    c.sock.settimeout(LINGER_BOUND)
    try:
        while c.sock.recv(4096):
            pass
    except socket.timeout:
        pytest.fail('TCP connection still open {} s after the server\'s '
                    'Close'.format(LINGER_BOUND))
    finally:
        c.close()
    print('\n{}: TCP closed {:.2f} s after the Close'.format(
        how, time.monotonic() - start))


# Protocol violations: the right close code, and the server keeps serving.

@pytest.mark.parametrize('data, code', [
    (frame(TEXT, b'x', rsv=1), 1002),
    (frame(TEXT, b'x', rsv=2), 1002),
    (frame(BINARY, b'x', rsv=4), 1002),
    (frame(PING, b'x', rsv=7), 1002),
    (frame(3, b'x'), 1002),
    (frame(7, b'x'), 1002),
    (frame(0xB, b'x'), 1002),
    (frame(0xF, b'x'), 1002),
    (frame(TEXT, b'unmasked', mask=False), 1002),
    (frame(CONT, b'lone continuation'), 1002),
    (frame(PING, b'x', fin=False), 1002),
    (frame(PING, b'x' * 126), 1002),
    (frame(CLOSE, b'x' * 126), 1002),
    (frame(BINARY, length=1 << 63)[:10], 1002),
    (frame(TEXT, b'\xff'), 1007),
    (frame(TEXT, b'\xed\xa0\x80'), 1007),          # a surrogate
    (frame(TEXT, b'\xc0\xaf'), 1007),              # overlong '/'
    (frame(TEXT, b'\xf4\x90\x80\x80'), 1007),      # above U+10FFFF
    (frame(TEXT, 'καλημέρα'.encode()[:-1]), 1007),  # cut code point
    (frame(TEXT, b'x' * 300 + b'\xfe'), 1007),     # in its own buffer
    (frame(TEXT, b'first', fin=False), 1003),
    (frame(BINARY, b'first', fin=False), 1003),
], ids=lambda x: x.hex()[:16] if isinstance(x, bytes) else str(x))
def test_violation_closes_with_code(srv, data, code):
    c = RawClient(srv.port)
    c.send(data)
    assert c.close_code() == code
    # Answer the Close, as a client does: where the frame could still be
    # skipped the server waits for that, then closes the TCP connection.
    try:
        c.send(frame(CLOSE, close_payload(code)))
    except OSError:
        pass
    assert c.at_eof()
    c.close()
    still_serving(srv)


def test_invalid_utf8_fails_fast_inside_a_frame(srv):
    # The rest of the frame never comes: the error is found on what came.
    c = RawClient(srv.port)
    c.send(frame(TEXT, b'valid \xce\xba then \xed\xa0\x80' + b'x' * 5000)
           [:40])
    assert c.close_code() == 1007
    c.close()


def limit_check(server, opcode, size, ok):
    """A message of ``size`` bytes echoes if ``ok``; otherwise its header
    alone gets Close 1009. The payload is then never sent: a Close can
    only come from a decision made on the header."""
    c = RawClient(server.port)
    payload = b'b' * size
    if ok:
        c.send(frame(opcode, payload))
        assert c.message() == (payload.decode() if opcode == TEXT
                               else payload)
    else:
        c.send(frame(opcode, length=size))   # the header, masking key
        assert c.close_code() == 1009
    c.close()


@pytest.mark.parametrize('size, ok', [(LIMIT, True), (LIMIT + 1, False)])
def test_default_limit_is_max_body_length(srv, size, ok):
    limit_check(srv, BINARY, size, ok)


@pytest.mark.parametrize('size, ok', [(1000, True), (1001, False),
                                      (70000, False)])
def test_explicit_limit(srv_limit, size, ok):
    limit_check(srv_limit, TEXT, size, ok)


def peak_rss(server):
    """The server process's peak resident memory (VmHWM), in bytes, as the
    kernel counts it."""
    with open('/proc/{}/status'.format(server.proc.pid)) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    raise AssertionError('no VmHWM for {}'.format(server.proc.pid))


@pytest.mark.parametrize('runtime', ['firmware', 'cpython'])
@pytest.mark.parametrize('args', [(), ('--max-message', '1000')],
                         ids=['default-limit', 'explicit-limit'])
def test_limit_decided_from_the_header(micropython, runtime, args):
    # 32 MiB announced, no byte of payload sent, on a heap with room for
    # it. The 1009 must come from the header alone: reading the payload
    # first would wait forever, and allocating its buffer first shows as
    # 32 MiB more peak resident memory (a new buffer is zero-filled, which
    # touches every page of it).
    server = start_app(runtime, micropython, *args,
                       firmware_args=('-X', 'heapsize=64M'))
    try:
        c = RawClient(server.port)
        before = peak_rss(server)
        c.send(frame(BINARY, length=32 << 20))
        assert c.close_code() == 1009
        grown = peak_rss(server) - before
        c.close()
        still_serving(server)
    finally:
        out = server.stop()
    assert unexpected_tracebacks(out) == [], out
    print('\npeak RSS grew by {} KiB'.format(grown >> 10))
    assert grown < 8 << 20, grown


@pytest.mark.parametrize('length', [1 << 62, (1 << 63) - 1])
def test_length_beyond_memory_is_1009(srv_nolimit, length):
    # No limit, and no buffer that size: MemoryError here (OverflowError
    # on 32-bit ports, from 2**31 on) must close with 1009, not a crash.
    c = RawClient(srv_nolimit.port)
    c.send(frame(BINARY, length=length)[:14])
    assert c.close_code() == 1009
    c.close()
    still_serving(srv_nolimit)


def test_zero_disables_the_limit(srv_nolimit):
    big = payload_of(200000, False)
    assert run(echo_all(srv_nolimit.ws_url + '/echo', [big])) == [big]


# Fragmented messages (WebSocket.accept_fragments = True).

def test_fragments_reassembled_with_control_frames_between(srv_frag):
    c = RawClient(srv_frag.port)
    text = 'κόσμε 😀 done'.encode()
    c.send(frame(TEXT, text[:7], fin=False) +       # cut inside κό
           frame(PING, b'mid') +
           frame(CONT, text[7:8], fin=False) +
           frame(CONT, b'', fin=False) +
           frame(CONT, text[8:], fin=True))
    event = c.next_event()
    assert type(event).__name__ == 'Pong' and event.payload == b'mid'
    assert c.message() == text.decode()
    binary = os.urandom(70000)
    c.send(frame(BINARY, binary[:10], fin=False) +
           frame(CONT, binary[10:60000], fin=False) +
           frame(CONT, binary[60000:], fin=True))
    assert c.message() == binary
    c.send(frame(TEXT, b'', fin=False) + frame(CONT, b'', fin=True))
    assert c.message() == ''
    c.close()


def test_websockets_sends_fragments(srv_frag):
    async def go():
        async with connect(srv_frag.ws_url + '/echo', compression=None) \
                as ws:
            await ws.send(['par', 'tial', ' text'])
            a = await ws.recv()
            await ws.send([b'\x00' * 300, b'\x01' * 5])
            return a, await ws.recv()
    assert run(go()) == ('partial text', b'\x00' * 300 + b'\x01' * 5)


@pytest.mark.parametrize('data, code', [
    (frame(TEXT, b'ok', fin=False) + frame(TEXT, b'new'), 1002),
    (frame(TEXT, b'ok', fin=False) + frame(BINARY, b'new'), 1002),
    (frame(CONT, b'nothing to continue', fin=True), 1002),
    (frame(BINARY, b'x' * 60000, fin=False) +
     frame(CONT, b'x' * 50000), 1009),
], ids=['text-in-text', 'binary-in-text', 'lone-cont', 'total-limit'])
def test_fragment_violations(srv_frag, data, code):
    c = RawClient(srv_frag.port)
    c.send(data)
    assert c.close_code() == code
    c.close()


def test_fragment_utf8_fails_fast(srv_frag):
    # The invalid fragment closes the connection before the message ends.
    c = RawClient(srv_frag.port)
    c.send(frame(TEXT, 'κόσμε'.encode(), fin=False) +
           frame(CONT, b'\xf4\x90\x80\x80', fin=False))
    assert c.close_code() == 1007
    c.close()


@pytest.mark.parametrize('cuts', [
    [5, 10], [100, 200], [1, 299, 300], [100, 5000], [3000, 4000],
    [200, 250, 100000],
], ids=lambda cuts: '-'.join(map(str, cuts)))
def test_binary_type_bytearray_with_fragments(srv_bytearray_frag, cuts):
    # Fragments small enough for the receive buffer, each in its own
    # buffer, and both; several messages kept by the handler at once
    # (/collect): each must come back whole, and as bytearray (/types).
    c = RawClient(srv_bytearray_frag.port, '/collect?n=3')
    messages = [os.urandom(cuts[-1] + 7), b'whole', os.urandom(cuts[-1])]
    data = b''
    for message in messages[::2]:
        pieces = [message[i:j] for i, j in zip([0] + cuts,
                                               cuts + [len(message)])]
        data += b''.join(
            frame(CONT if i else BINARY, piece, fin=i == len(pieces) - 1)
            for i, piece in enumerate(pieces))
        if message is messages[0]:
            data += frame(BINARY, messages[1])
    c.send(data)
    assert [c.message() for _ in messages] == messages
    c.close()
    c = RawClient(srv_bytearray_frag.port, '/types')
    c.send(data)
    assert [c.message() for _ in messages] == ['bytearray'] * 3
    c.send(frame(TEXT, b'te', fin=False) + frame(CONT, b'xt'))
    assert c.message() == 'str'
    c.close()


# The opening handshake.

def upgrade(path='/echo', method='GET', version='HTTP/1.1', **headers):
    fields = {'Host': '127.0.0.1', 'Upgrade': 'websocket',
              'Connection': 'Upgrade', 'Sec-WebSocket-Key': RFC_KEY,
              'Sec-WebSocket-Version': '13'}
    for name, value in headers.items():
        name = name.replace('_', '-')
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    return '{} {} {}\r\n{}\r\n'.format(method, path, version, ''.join(
        '{}: {}\r\n'.format(k, v) for k, v in fields.items())).encode()


def test_handshake_101_reply(srv):
    status, headers, raw = http_exchange(srv.port, upgrade())
    assert raw.startswith(b'HTTP/1.1 101 Switching Protocols\r\n')
    assert status == 101
    assert headers['upgrade'].lower() == 'websocket'
    assert headers['connection'].lower() == 'upgrade'
    assert headers['sec-websocket-accept'] == RFC_ACCEPT
    # The accept value per RFC 6455 4.2.2, computed here independently.
    key = base64.b64encode(os.urandom(16)).decode()
    _, headers, raw = http_exchange(srv.port,
                                    upgrade(Sec_WebSocket_Key=key))
    assert headers['sec-websocket-accept'] == base64.b64encode(
        hashlib.sha1((key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
                     .encode()).digest()).decode()
    assert raw.endswith(b'\r\n\r\n')


@pytest.mark.parametrize('request_bytes', [
    upgrade(Upgrade='WebSocket', Connection='keep-alive, Upgrade'),
    upgrade(Connection='upgrade,keep-alive'),
    upgrade(Upgrade='websocket, other'),
], ids=['case-and-list', 'list-no-space', 'upgrade-list'])
def test_handshake_accepts_token_lists(srv, request_bytes):
    assert http_exchange(srv.port, request_bytes)[0] == 101


@pytest.mark.parametrize('request_bytes', [
    upgrade(Upgrade=None),
    upgrade(Upgrade='h2c'),
    upgrade(Connection=None),
    upgrade(Connection='keep-alive'),
    upgrade(Connection='upgraded'),
    upgrade(Sec_WebSocket_Key=None),
    upgrade(Sec_WebSocket_Key='not base64 at all!!!!!=='),
    upgrade(Sec_WebSocket_Key=base64.b64encode(b'x' * 15).decode()),
    upgrade(Sec_WebSocket_Key=base64.b64encode(b'x' * 17).decode()),
    upgrade(Sec_WebSocket_Key=RFC_KEY[:-2]),
    upgrade(version='HTTP/1.0'),
    upgrade(path='/any', method='POST'),
], ids=['no-upgrade', 'upgrade-h2c', 'no-connection', 'connection-keepalive',
        'connection-upgraded', 'no-key', 'key-not-base64', 'key-15-bytes',
        'key-17-bytes', 'key-unpadded', 'http-1.0', 'post'])
def test_bad_handshake_is_400(srv, request_bytes):
    status, headers, _ = http_exchange(srv.port, request_bytes)
    assert status == 400
    assert 'sec-websocket-accept' not in headers


@pytest.mark.parametrize('version', ['8', '12', '14', None])
def test_other_version_is_426_naming_13(srv, version):
    status, headers, _ = http_exchange(
        srv.port, upgrade(Sec_WebSocket_Version=version))
    assert status == 426
    assert headers['sec-websocket-version'] == '13'


def test_spec_example_upgrade_after_authorization(srv):
    status, headers, _ = http_exchange(srv.port, upgrade(path='/private'))
    assert status == 401 and 'sec-websocket-accept' not in headers
    status, headers, _ = http_exchange(
        srv.port, upgrade(path='/private', Authorization='Bearer letmein',
                          Sec_WebSocket_Version='7'))
    assert status == 426 and headers['sec-websocket-version'] == '13'

    async def go():
        async with connect(srv.ws_url + '/private', compression=None,
                           additional_headers={
                               'Authorization': 'Bearer letmein'}) as ws:
            await ws.send('shout')
            return await ws.recv()
    assert run(go()) == 'SHOUT'


# Load and bad clients.

def test_fifty_concurrent_connections(srv_many):
    async def client(i):
        async with connect(srv_many.ws_url + '/echo',
                           compression=None) as ws:
            for j in range(10):
                msg = 'c{} m{} '.format(i, j) * (i + 1)
                await ws.send(msg)
                assert await ws.recv() == msg
                await ws.send(msg.encode())
                assert await ws.recv() == msg.encode()
            return i

    async def go():
        return await asyncio.gather(*(client(i) for i in range(50)))
    assert run(go()) == list(range(50))


def _abort(sock):
    """Drop a connection with a TCP reset."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack('ii', 1, 0))
    sock.close()


@pytest.mark.parametrize('cut, reset', [
    (1, False), (2, False), (5, False), (9, False), (500, False),
    (500, True), (9, True)])
def test_clients_vanishing_mid_frame(srv_nolimit, cut, reset):
    c = RawClient(srv_nolimit.port)
    c.send(frame(BINARY, os.urandom(70000))[:cut])
    if reset:
        _abort(c.sock)
    else:
        c.close()
    still_serving(srv_nolimit)


def test_clients_vanishing_in_handshake(srv):
    for data in (b'GET /echo HTTP/1.1\r\nUpgrade: websocket\r\n',
                 upgrade()[:-2]):
        s = socket.create_connection(('127.0.0.1', srv.port))
        s.sendall(data)
        _abort(s)
    still_serving(srv)


def test_client_vanishing_while_server_sends(srv):
    c = RawClient(srv.port, '/stream?n=50&size=200000')
    c.next_event()
    _abort(c.sock)
    still_serving(srv)


def test_concurrent_senders_never_interleave_frames(srv):
    # One task streams 100 KB frames while the handler answers pings:
    # websockets would fail on any frame cut by a pong.
    async def go():
        async with connect(srv.ws_url + '/stream?n=30&size=100000',
                           compression=None, max_size=None,
                           ping_interval=None) as ws:
            frames = []
            waiters = []

            async def pinger():
                for i in range(30):
                    waiters.append(await ws.ping(str(i)))
                    await asyncio.sleep(0.002)
            task = asyncio.create_task(pinger())
            while True:
                msg = await ws.recv()
                if msg == 'done':
                    break
                frames.append(msg)
            await task
            await asyncio.wait_for(asyncio.gather(*waiters), 10)
            return frames
    frames = run(go())
    assert [f[:1] * len(f) for f in frames] == \
        [bytes([i]) * 100000 for i in range(30)]


def test_tight_send_loop_does_not_starve_other_clients(srv):
    # A handler sending small frames as fast as the socket takes them (its
    # client, a thread, drains them all the while) must let the other
    # connections be served meanwhile, not only once it is done.
    n = 100000
    flood = socket.create_connection(('127.0.0.1', srv.port), timeout=20)
    flood.sendall(upgrade('/flood?n={}'.format(n)))
    reply = b''
    while b'\r\n\r\n' not in reply:
        reply += flood.recv(4096)
    head, data = reply.split(b'\r\n\r\n', 1)
    assert head.startswith(b'HTTP/1.1 101 '), head
    # What /flood must send, byte for byte (RFC 6455 5.2: unmasked frames
    # from the server): its n messages, in order, "done", and the Close
    # the handler's return sends; then the connection ends.
    flood_bytes = frame(BINARY, b'0123456789abcdef', mask=False) * n + \
        frame(TEXT, b'done', mask=False)
    expected = hashlib.sha256(flood_bytes + frame(
        CLOSE, close_payload(1000), mask=False)).hexdigest()
    got = hashlib.sha256(data)
    received = [len(data)]
    flooding = threading.Event()
    flooding.set()

    def drain():
        while True:
            chunk = flood.recv(1 << 20)
            if not chunk:
                break
            got.update(chunk)
            received[0] += len(chunk)
            if received[0] >= len(flood_bytes):
                flooding.clear()
        flooding.clear()
    thread = threading.Thread(target=drain)
    thread.start()
    try:
        ws = wsclient.create_connection(srv.ws_url + '/echo', timeout=20)
        for i in range(20):
            ws.send(str(i))
            assert ws.recv() == str(i)
        ws.close()
        assert flooding.is_set(), 'echo served only after the flood'
    finally:
        thread.join()
        flood.close()
    assert got.hexdigest() == expected


def _server_socket(server, client):
    """A duplicate of the server process's socket for ``client``'s TCP
    connection, taken from the process with pidfd_getfd(2)."""
    port = client.getsockname()[1]
    inodes = set()
    for table in ('tcp', 'tcp6'):
        with open('/proc/{}/net/{}'.format(server.proc.pid, table)) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local, remote = fields[1], fields[2]
                if int(local.rsplit(':', 1)[1], 16) == server.port and \
                        int(remote.rsplit(':', 1)[1], 16) == port:
                    inodes.add('socket:[{}]'.format(fields[9]))
    fds = '/proc/{}/fd'.format(server.proc.pid)
    found = [int(fd) for fd in os.listdir(fds)
             if os.readlink(os.path.join(fds, fd)) in inodes]
    assert len(found) == 1, (inodes, found)
    pidfd = os.pidfd_open(server.proc.pid)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.syscall(438, pidfd, found[0], 0)   # SYS_pidfd_getfd
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, 'pidfd_getfd: ' + os.strerror(err))
    finally:
        os.close(pidfd)
    return socket.socket(fileno=fd)


def test_tcp_nodelay_set_on_the_server_socket(srv):
    # Read from the kernel, on the server process's own socket: after the
    # upgrade, Nagle's algorithm is off (the firmware sets it in
    # handshake(); CPython's asyncio sets it on every TCP connection).
    c = RawClient(srv.port)
    with _server_socket(srv, c.sock) as s:
        nodelay = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert nodelay == 1
    c.send_message('still one connection')
    assert c.message() == 'still one connection'
    c.close()


def test_websocket_client_threads_share_server(srv):
    errors = []

    def worker(i):
        try:
            ws = wsclient.create_connection(srv.ws_url + '/echo', timeout=20)
            for j in range(20):
                ws.send_binary(bytes([i, j]) * 600)
                assert ws.recv() == bytes([i, j]) * 600
            ws.close()
        except Exception as exc:   # reported below
            errors.append(exc)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_connection_closed_error_after_violation(srv):
    # websockets sees the close code the server sent for a bad frame.
    async def go():
        async with connect(srv.ws_url + '/echo', compression=None) as ws:
            transport = ws.transport
            transport.write(frame(TEXT, b'\xff'))
            with pytest.raises(ConnectionClosed) as exc:
                await ws.recv()
            return exc.value.rcvd.code
    assert run(go()) == 1007
