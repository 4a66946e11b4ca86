"""Cancelled and stuck I/O: receive() and send() under asyncio.wait_for(),
and a protocol error while another task's send is stuck.

Like test_websocket.py, each test runs against the unix firmware and
against CPython (tests/cpython_server.py), on routes of tests/ws_app.py.
Clients are raw sockets; wsproto checks the messages that come back.
"""
import base64
import os
import socket
import time

import pytest

from test_websocket import app_fixture, count, payload_of, wait_for_line
from wsraw import BINARY, CLOSE, CONT, TEXT, RawClient, close_payload, frame

srv = app_fixture()
srv_frag = app_fixture('--accept-fragments', '--max-message', '100000')

# Longer than /idle's 0.1 s timeout: the server gives up on receive()
# at least once in every pause.
PAUSE = 0.3


def send_in_pieces(client, data, cuts):
    """Send ``data`` cut at ``cuts``, pausing after each piece."""
    start = 0
    for cut in cuts:
        client.send(data[start:cut])
        time.sleep(PAUSE)
        start = cut
    client.send(data[start:])


@pytest.mark.parametrize('size', [5, 200, 300, 5000])
@pytest.mark.parametrize('text', [True, False], ids=['text', 'binary'])
def test_receive_cancelled_mid_frame_loses_nothing(srv, text, size):
    # Cut in the header, in the payload (which fits the 256-byte receive
    # buffer up to 200 bytes, and has its own buffer above) and before its
    # last byte; the frame after it must come through as well.
    message = payload_of(size, text)
    data = frame(TEXT if text else BINARY,
                 message.encode() if text else message)
    c = RawClient(srv.port, '/idle')
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    send_in_pieces(c, data + frame(TEXT, b'next'),
                   [1, len(data) // 2, len(data) - 1])
    assert c.message() == message
    assert c.message() == 'next'
    c.close()


def test_receive_cancelled_between_and_inside_fragments(srv_frag):
    text = 'κόσμε 😀 '.encode() * 500
    data = (frame(TEXT, text[:7], fin=False) +
            frame(CONT, text[7:4000], fin=False) +
            frame(CONT, text[4000:], fin=True))
    c = RawClient(srv_frag.port, '/idle')
    send_in_pieces(c, data, [3, 20, 2000, len(data) - 100])
    assert c.message() == text.decode()
    c.close()


def upgrade(port, path):
    """A WebSocket handshake on a raw socket with a small receive buffer
    (set before connecting, so that the window stays small): a client
    that reads nothing soon stops the server's writes."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(('127.0.0.1', port))
    s.sendall('GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'
              'Connection: Upgrade\r\nSec-WebSocket-Key: {}\r\n'
              'Sec-WebSocket-Version: 13\r\n\r\n'.format(
                  path, base64.b64encode(os.urandom(16)).decode()).encode())
    reply = b''
    while b'\r\n\r\n' not in reply:
        reply += s.recv(4096)
    head, rest = reply.split(b'\r\n\r\n', 1)
    assert head.startswith(b'HTTP/1.1 101 '), head
    return s, rest


def read_to_eof(s, data):
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            s.close()
            return data
        data += chunk


def pattern(size):
    """tests/ws_app.py's pattern(), written out independently."""
    return bytes(i & 0xff for i in range(size))


@pytest.mark.parametrize('kind', ['bytes', 'bytearray', 'memoryview'])
def test_send_cancelled_mid_frame(srv, kind):
    # /cancel-send's 256 KiB send is cancelled by its timeout while the
    # client reads nothing; the handler then closes the connection.
    size = 1 << 18
    line = 'cancel-send {} timeout closed True True'.format(kind)
    before = count(srv, line)
    s, data = upgrade(srv.port, '/cancel-send?type={}&size={}'.format(
        kind, size))
    time.sleep(1)
    data = read_to_eof(s, data)
    whole = frame(BINARY, pattern(size), mask=False)
    if srv.runtime == 'firmware':
        # The frame is cut where the cancel struck (the socket had taken
        # far less than all of it), and nothing may follow a cut frame:
        # the connection ends on a strict prefix of it, no Close after.
        assert 10 < len(data) < len(whole), len(data)
        assert data == whole[:len(data)]
    else:
        # CPython's stream had taken the whole frame before the cancel:
        # it goes out whole, then close()'s Close frame.
        assert data == whole + frame(CLOSE, close_payload(1000), mask=False)
    # close() returned, and the caller's data is still its length and
    # its bytes.
    wait_for_line(srv, line, before)


def test_protocol_error_while_a_send_is_stuck(srv):
    # A task's send waits for a client that reads nothing; the client's
    # bad frame must still end the handler's receive() (1002 given up).
    before = count(srv, 'stall: rsv bit set')
    s, _ = upgrade(srv.port, '/stall?size={}'.format(1 << 20))
    time.sleep(0.5)
    s.sendall(frame(TEXT, b'x', rsv=1))
    wait_for_line(srv, 'stall: rsv bit set', before)
    s.close()


def test_no_close_frame_after_a_cut_frame(srv):
    # The bad frame at 0.3 s has receive() wait (1 s at most) to send its
    # Close after the stuck frame; at 0.8 s that frame is cut short by a
    # cancel. On the firmware the cut frame must then be all there is;
    # CPython's stream finishes the frame, and the Close follows.
    size = 1 << 20
    before = count(srv, 'stall: rsv bit set')
    s, data = upgrade(srv.port, '/stall?size={}&cancel=0.8'.format(size))
    time.sleep(0.3)
    s.sendall(frame(TEXT, b'x', rsv=1))
    wait_for_line(srv, 'stall: rsv bit set', before)
    data = read_to_eof(s, data)
    expected = (frame(BINARY, length=size, mask=False) + bytes(size) +
                frame(CLOSE, close_payload(1002), mask=False))
    assert len(data) > 10 and expected.startswith(data), len(data)
