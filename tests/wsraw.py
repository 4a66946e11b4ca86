"""A raw-socket WebSocket client for tests that send what no library would.

Frames go out exactly as built here (RFC 6455 5.2, by hand); what comes back
is parsed by wsproto, an independent implementation, which also checks that
the server's frames are well formed.
"""
import os
import socket
import struct

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, \
    Ping, Pong, RejectConnection, Request

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10


def frame(opcode, payload=b'', fin=True, rsv=0, mask=True, key=None,
          length=None):
    """Build one client frame; ``length`` overrides the header's length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack('!H', n)
    else:
        head += bytes([m | 127]) + struct.pack('!Q', n)
    if not mask:
        return head + payload
    key = os.urandom(4) if key is None else key
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def close_payload(code, reason=b''):
    return struct.pack('!H', code) + reason


class RawClient:
    """A handshaken connection: send raw bytes, read wsproto events."""

    def __init__(self, port, path='/echo', timeout=10):
        self.sock = socket.create_connection(('127.0.0.1', port),
                                             timeout=timeout)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.ws.send(Request(host='127.0.0.1',
                                               target=path)))
        self.pending = []
        event = self.next_event()
        if not isinstance(event, AcceptConnection):
            raise AssertionError('handshake failed: {!r}'.format(event))

    def send(self, data):
        self.sock.sendall(data)

    def send_message(self, data):
        self.sock.sendall(self.ws.send(Message(data=data)))

    def next_event(self):
        """The next event from the server; None when the socket ends."""
        while not self.pending:
            try:
                data = self.sock.recv(1 << 16)
            except ConnectionResetError:
                data = b''
            self.ws.receive_data(data or None)
            self.pending.extend(self.ws.events())
            if not data and not self.pending:
                return None
        return self.pending.pop(0)

    def message(self):
        """The next whole message (wsproto reassembles any fragments)."""
        parts = []
        while True:
            event = self.next_event()
            if isinstance(event, (Ping, Pong)):
                continue
            assert isinstance(event, Message), event
            parts.append(event.data)
            if event.message_finished:
                return type(event.data)().join(parts)

    def close_code(self):
        """Skip to the server's Close frame; return its code (None: none)."""
        while True:
            event = self.next_event()
            if event is None:
                return None
            if isinstance(event, CloseConnection):
                return event.code

    def raw_frames(self):
        """Everything up to EOF, split into (fin, opcode, payload) by hand.

        For codes wsproto does not know (it rejects 1014, registered later
        than RFC 6455).
        """
        data = b''.join(e for e in iter(lambda: self._recv(), b''))
        frames = []
        while data:
            fin, opcode, n = data[0] >> 7, data[0] & 15, data[1] & 127
            assert data[1] & 0x80 == 0, 'server frames are never masked'
            i = 2
            if n == 126:
                n, i = struct.unpack('!H', data[2:4])[0], 4
            elif n == 127:
                n, i = struct.unpack('!Q', data[2:10])[0], 10
            frames.append((fin, opcode, data[i:i + n]))
            data = data[i + n:]
        return frames

    def _recv(self):
        try:
            return self.sock.recv(1 << 16)
        except ConnectionResetError:
            return b''

    def at_eof(self):
        """True once the server has closed the TCP connection."""
        self.sock.settimeout(5)
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def http_exchange(port, request, timeout=10):
    """Send raw request bytes; return (status, headers dict, raw reply)."""
    with socket.create_connection(('127.0.0.1', port),
                                  timeout=timeout) as s:
        s.sendall(request)
        reply = b''
        while b'\r\n\r\n' not in reply:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    head = reply.split(b'\r\n\r\n', 1)[0].decode('latin-1').split('\r\n')
    status = int(head[0].split()[1]) if head and head[0] else None
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(':')
        headers[name.strip().lower()] = value.strip()
    return status, headers, reply


__all__ = ['frame', 'close_payload', 'RawClient', 'http_exchange',
           'RejectConnection']
