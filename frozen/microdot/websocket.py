"""WebSocket support for Microdot (RFC 6455).

A drop-in replacement for upstream Microdot's ``microdot.websocket`` with
the same API, strict RFC 6455 framing and a receive path that does not copy
payloads. The codec -- frame header parsing and building, unmasking, UTF-8
validation -- is the ``ws_mask`` C module, or its pure-Python twin
``microdot._ws_mask`` where the firmware lacks it (and on CPython). This
module only does the I/O around it.

Example::

    from microdot import Microdot
    from microdot.websocket import with_websocket

    app = Microdot()

    @app.get('/echo')
    @with_websocket
    async def echo(request, ws):
        while True:
            msg = await ws.receive()
            await ws.send(msg)

How it reads: each connection has a 256-byte receive buffer that headers
and small frames are read into with ``readinto()``, several frames per read
when the client pipelines them; a larger payload is read straight into one
buffer of its exact size. Payloads are unmasked in place, and text is
validated as it arrives, so invalid UTF-8 fails the connection at once.
Returning a text message costs one copy into its ``str``, and a binary one
one copy into ``bytes`` (MicroPython cannot turn a ``bytearray`` into
either in place); set :attr:`WebSocket.binary_type` to ``bytearray`` to
avoid the latter. :meth:`WebSocket.receive` can be cancelled (for an idle
timeout) without losing data; a :meth:`WebSocket.send` cancelled or failing
halfway through a frame closes the connection, as nothing can follow the
cut frame.

The LAN is not trusted: an upgrade from a web page of another origin gets
``403`` (:attr:`WebSocket.allowed_origins`), an idle client is pinged and
one that stays silent is dropped (:attr:`WebSocket.ping_interval`), and a
closing handshake never takes longer than :attr:`WebSocket.close_timeout`.

Differences from upstream 2.7.0: protocol errors close the connection with
the status code RFC 6455 asks for; empty messages are returned; fragmented
messages can be accepted (:attr:`WebSocket.accept_fragments`);
``max_message_length = 0`` disables the limit; :meth:`WebSocket.send`
raises :exc:`WebSocketError` once the connection is closed; the Origin
check, keepalive pings and ``1011`` for an exception in a handler are new.
Upstream's
``microdot.test_client`` cannot drive this module: its ``websocket()``
sends an HTTP/1.0 request and unmasked frames, which RFC 6455 (4.1, 5.1)
makes a server refuse.
"""
import asyncio
import binascii
import hashlib

from microdot import Request, Response, abort
from microdot import _asyncio_fixes  # noqa: F401
from microdot.microdot import MUTED_SOCKET_ERRORS, print_exception
from microdot.helpers import wraps

try:
    import ws_mask
except ImportError:
    from microdot import _ws_mask as ws_mask

_parse_header = ws_mask.parse_header
_build_header = ws_mask.build_header
_mask = ws_mask.mask
_utf8_validate = ws_mask.utf8_validate
_byteview = ws_mask.byteview

_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
_B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

# Receive buffer per connection. It holds any whole control frame (14 header
# bytes + 125), and small data frames are read into it several at a time.
_RBUF = 256
# Frames with up to this many payload bytes go out in one write, copied
# behind their header in a scratch buffer shared by all connections.
_SMALL = 1024
_scratch = None
# Small frames sent in a row without yielding to other tasks.
_BURST = 8

# A fragment but the last counts as at least this many bytes against
# max_message_length: a flood of tiny fragments costs memory per fragment.
_FRAGMENT_COST = 64

# Close codes a peer may send (RFC 6455 7.4.1, IANA registry): others, and
# 1004-1006 and 1015 in particular, are a protocol error.
_CLOSE_CODES = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                1013, 1014)


class WebSocketError(Exception):
    """Exception raised when an error occurs in a WebSocket connection."""
    pass


class WebSocket:
    """A WebSocket connection object.

    An instance of this class is sent to handler functions to manage the
    WebSocket connection. Do not create one directly.
    """
    CONT = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10

    #: The maximum payload size :meth:`receive` accepts for a message.
    #: Larger messages close the connection with status 1009, decided from
    #: the frame header before the payload is read. ``0`` disables the check
    #: (be aware of memory-exhaustion attacks if you do this); ``-1`` (the
    #: default) uses ``Request.max_body_length``.
    #:
    #: Example::
    #:
    #:    WebSocket.max_message_length = 4 * 1024  # up to 4KB messages
    max_message_length = -1

    #: Set to ``True`` to accept fragmented messages: :meth:`receive`
    #: reassembles them (the total bounded by :attr:`max_message_length`).
    #: By default a fragmented message closes the connection with status
    #: 1003, as Microdot does not support continuation frames.
    accept_fragments = False

    #: The type :meth:`receive` returns binary messages as: ``bytes`` (the
    #: default), or ``bytearray`` to get the buffer the payload was read and
    #: unmasked in. ``bytes`` costs one copy of every binary message, and
    #: twice its size in memory while the copy is made.
    binary_type = bytes

    #: The origins, besides the server's own, from which a web page may
    #: open a WebSocket. A browser names the page that opens a WebSocket in
    #: the ``Origin`` header; without this check any page the owner's
    #: browser visits could connect to the board (cross-site WebSocket
    #: hijacking). By default an upgrade is accepted without ``Origin``
    #: (not from a browser) or from the same origin (``Origin``'s host and
    #: port are the request's ``Host``); any other, ``null`` included, gets
    #: ``403``. Give a list to accept more, e.g.
    #: ``['https://dashboard.example']`` (``'null'`` for pages with an
    #: opaque origin), or ``'*'`` to accept every origin.
    allowed_origins = ()

    #: Seconds without a frame from the client after which the server
    #: pings it; ``None``: never. (Any frame received counts as life.)
    ping_interval = 20

    #: Seconds a pinged client has to send something before the connection
    #: is closed with status 1011 and dropped; ``None``: wait for ever.
    #: The client's frames are seen while a task waits in :meth:`receive`.
    ping_timeout = 20

    #: Seconds the closing handshake may take, from the start of sending
    #: the Close frame (behind a frame another task is sending) to the
    #: client's Close frame: then the connection is dropped.
    close_timeout = 2

    def __init__(self, request):
        self.request = request
        self.closed = False
        # Few attributes: MicroPython keeps them in a hash table probed up
        # to a free slot, which every lookup of a method goes through too.
        self._writer = request.sock[1]
        # MicroPython's asyncio streams read into buffers; CPython's and
        # Microdot's test streams only have read().
        self._readinto = getattr(request.sock[0], 'readinto', None)
        self._mv = memoryview(bytearray(_RBUF))
        self._pos = 0   # start of unconsumed data in _mv
        self._end = 0   # end of the data in _mv
        self._key = bytearray(4)   # the current frame's masking key
        self._writing = False   # a task is writing a frame
        # Nothing may be written any more: a frame went out in part, or
        # the Close frame went out.
        self._torn = False
        self._burst = 0   # small frames sent since the last yield
        self._idle = None   # an Event for tasks waiting to write
        self._pong = None   # a ping's payload, to be answered
        self._reading = False
        self._heard = 0   # reads that returned data: signs of life
        self._keeper = None   # the keepalive task
        # The message being received: its opcode, the current frame's FIN
        # bit, the UTF-8 validation state of a text so far, and when
        # fragmented, the payloads so far and their total length.
        self._opcode = 0
        self._fin = True
        self._utf8 = 0
        self._frag = None
        self._flen = 0
        # A frame too big for the receive buffer: its payload buffer and
        # the bytes of it read (and unmasked and validated) so far.
        self._data = None
        self._done = 0

    async def handshake(self):
        """Check the upgrade request and answer it with ``101``.

        Aborts with ``400`` for a request that is not a valid WebSocket
        upgrade, with ``426`` and a ``Sec-WebSocket-Version: 13`` header
        for a WebSocket version other than 13 (RFC 6455 4.2.2), and with
        ``403`` for an ``Origin`` not allowed (:attr:`allowed_origins`).
        """
        request = self.request
        headers = request.headers
        if request.method != 'GET' or not _http11(request.http_version) or \
                not _has_token(headers.get('Upgrade'), 'websocket') or \
                not _has_token(headers.get('Connection'), 'upgrade'):
            abort(400)
        key = headers.get('Sec-WebSocket-Key', '')
        host = headers.get('Host')
        if not _valid_key(key) or not host:
            abort(400)   # a Host header is required (RFC 6455 4.2.1)
        if headers.get('Sec-WebSocket-Version', '').strip() != '13':
            _want_version_header(request)
            abort(426)
        origin = headers.get('Origin')
        if origin is not None and \
                not _origin_allowed(origin, host, self.allowed_origins):
            abort(403)
        accept = binascii.b2a_base64(
            hashlib.sha1(key.encode() + _GUID).digest())[:-1]
        await self._writer.awrite(
            b'HTTP/1.1 101 Switching Protocols\r\n'
            b'Upgrade: websocket\r\nConnection: Upgrade\r\n'
            b'Sec-WebSocket-Accept: ' + accept + b'\r\n\r\n')
        # Frames are written whole, header first: do not let Nagle's
        # algorithm hold their tails back. The unix port's socket module
        # lacks the constants (POSIX values then); lwIP's differ. (Imported
        # here: one more module global would slow down the builtins' lookup
        # on MicroPython, whose globals table is then full.)
        try:
            import socket
            self._writer.s.setsockopt(getattr(socket, 'IPPROTO_TCP', 6),
                                      getattr(socket, 'TCP_NODELAY', 1), 1)
        except (AttributeError, OSError):
            pass   # not a MicroPython stream (CPython sets it already)

    async def receive(self):
        """Receive a message from the client.

        Returns ``str`` for a text message and ``bytes`` (see
        :attr:`binary_type`) for a binary one. Pings are answered and pongs
        dropped on the way. Raises :exc:`WebSocketError` when the client
        closes the connection, the connection ends, or the client violates
        the protocol (the connection is then closed with the status code
        RFC 6455 asks for).

        A call cancelled while it waits for data (an idle timeout with
        ``asyncio.wait_for()``, say) loses nothing: the next call goes on
        with the frame it was reading.
        """
        if self.closed:
            raise WebSocketError('Websocket connection closed')
        self._reading = True
        try:
            mv = self._mv
            while True:
                if self._data is not None:
                    # The large frame a cancelled call was reading.
                    payload = await self._read_payload()
                else:
                    try:
                        h = _parse_header(mv[self._pos:self._end]) or \
                            await self._read_header()
                    except ValueError as exc:
                        await self._fail(1002, str(exc))
                    fin, opcode, masked, length, hlen = h
                    skip = hlen + length   # to skip the frame when failing
                    if not masked:
                        await self._fail(1002, 'unmasked frame', skip)
                    if opcode < 8:
                        # A data frame: check it against the message so far.
                        if opcode:
                            if self._frag is not None:
                                await self._fail(
                                    1002, 'expected a continuation frame',
                                    skip)
                            if not fin and not self.accept_fragments:
                                await self._fail(
                                    1003, 'fragments not supported', skip)
                            self._opcode = opcode
                            self._utf8 = 0
                            self._flen = 0
                        elif self._frag is None:
                            await self._fail(
                                1002, 'unexpected continuation frame', skip)
                        limit = self.max_message_length
                        if limit == -1:
                            limit = Request.max_body_length
                        cost = length if fin or length > _FRAGMENT_COST \
                            else _FRAGMENT_COST
                        if limit and self._flen + cost > limit:
                            await self._fail(1009, 'Message too large', skip)
                        self._flen += cost
                        self._fin = fin
                    if skip <= _RBUF:
                        # Nothing is consumed until the whole frame (any
                        # control frame, a small data frame) is buffered.
                        while self._end - self._pos < skip:
                            await self._more()
                    start = self._pos + hlen
                    key = self._key   # filled in place: no allocation
                    key[0] = mv[start - 4]
                    key[1] = mv[start - 3]
                    key[2] = mv[start - 2]
                    key[3] = mv[start - 1]
                    if skip > _RBUF:
                        payload = await self._read_payload(start, length)
                    else:
                        payload = mv[start:start + length]
                        self._pos = start + length
                        _mask(payload, key)
                        if opcode >= 8:
                            if opcode == 9:
                                await self._answer(payload)
                            elif opcode == 8:
                                await self._on_close(payload)
                            continue
                        if self._opcode == 1:
                            self._utf8 = _utf8_validate(payload, self._utf8)
                            if self._utf8 < 0:
                                await self._fail(1007, 'invalid UTF-8')

                # Too little memory for the message (or its copy as str or
                # bytes) is a message too big to process (RFC 6455 7.4.1).
                try:
                    frag = self._frag
                    if frag is not None or not self._fin:
                        # A fragment: keep its payload (the receive buffer's
                        # part copied) and join the pieces once, at the end.
                        if not isinstance(payload, bytearray):
                            payload = bytes(payload)
                        if frag is None:
                            self._frag = frag = []
                        frag.append(payload)
                        if not self._fin:
                            continue
                        self._frag = None
                        payload = b''.join(frag)
                    if self._opcode == 1:
                        # str() copies, but not from bytes on MicroPython.
                        if self._utf8:
                            await self._fail(1007, 'invalid UTF-8')
                        return str(payload, 'utf-8')
                    if self.binary_type is bytearray and \
                            isinstance(payload, bytearray):
                        return payload   # its own buffer: no copy
                    return self.binary_type(payload)
                except MemoryError:
                    self._frag = None
                    await self._fail(1009, 'Message too large')
        finally:
            self._reading = False

    async def send(self, data, opcode=None):
        """Send a message to the client.

        :param data: the data to send, given as a string or bytes.
        :param opcode: a custom frame opcode to use. If not given, the opcode
                       is ``TEXT`` or ``BINARY`` depending on the type of the
                       data.

        Frames sent by concurrent tasks never interleave. Raises
        :exc:`WebSocketError` once the connection is closed.
        """
        if isinstance(data, str):
            if opcode is None:
                opcode = 1
            try:
                buf = memoryview(data)   # MicroPython: the UTF-8 bytes
            except TypeError:
                buf = data.encode()
        else:
            if opcode is None:
                opcode = 2
            # A memoryview or an array of wider items as a view of bytes
            # (into data, which stays referenced here meanwhile).
            buf = data if type(data) is bytes or type(data) is bytearray \
                else _byteview(data)
        if self._writing:
            await self._wait_writer()
        # Once closed, only the Close frame itself may still go out, and
        # nothing after a frame cut short or after the Close frame.
        if self._torn or self.closed and opcode != 8:
            raise WebSocketError('Websocket connection closed')
        self._writing = True
        writer = self._writer
        # Headers, and small frames whole, are built in a scratch buffer
        # shared by all connections: what the socket does not take at
        # once, MicroPython's Stream.write() copies (out_buf += ...).
        scratch = _scratch or _new_scratch()
        try:
            while True:
                n = len(buf)
                hlen = _build_header(scratch, opcode, n)
                if not hasattr(writer, 'out_buf'):
                    # Not MicroPython's asyncio stream: one write per frame.
                    await writer.awrite(bytes(scratch[:hlen]) + buf)
                    # CPython's drain() does not yield while its buffer has
                    # room: a tight send loop would starve the other tasks.
                    self._burst += 1
                    if self._burst >= _BURST:
                        self._burst = 0
                        await asyncio.sleep(0)
                elif n <= _SMALL:
                    scratch[hlen:hlen + n] = buf
                    writer.write(scratch[:hlen + n])
                    # Stream.drain() yields to the scheduler even when the
                    # socket took everything; do that only every _BURST
                    # sends (CPython's drain() does not yield at all then).
                    self._burst += 1
                    if writer.out_buf or self._burst >= _BURST:
                        self._burst = 0
                        await writer.drain()
                else:
                    # MicroPython's Stream.write() copies whatever the
                    # socket does not take at once (on an ESP32, most of a
                    # large payload); drain() writes its out_buf from a
                    # memoryview.
                    writer.write(scratch[:hlen])
                    if writer.out_buf:
                        await writer.drain()
                    writer.out_buf = buf
                    await writer.drain()
                if opcode == 8:
                    self.closed = self._torn = True
                # A ping received while this frame went out is answered
                # right after it.
                buf = self._pong
                if buf is None or self._torn:
                    break
                self._pong = None
                opcode = 10
        except BaseException:
            if getattr(writer, 'out_buf', None):
                # Cancelled or failed with part of the frame unsent: drain()
                # does not keep how much went out, so the frame can neither
                # be finished nor followed by another. Drop the rest (it
                # may be the caller's object) and close the connection.
                writer.out_buf = b''
                self.closed = self._torn = True
            raise
        finally:
            self._writing = False
            if self._idle is not None:
                self._idle.set()
                self._idle = None

    async def close(self):
        """Close the websocket connection.

        Sends a Close frame with status 1000, marks the connection as
        closed, and waits for the client's Close frame (when another task
        is receiving, until that task has got it), all within
        :attr:`close_timeout`. Does nothing if the connection is already
        closed.
        """
        await self._close(1000)

    # Receiving

    async def _read_header(self):
        """Read until a whole frame header is buffered; parse it."""
        while True:
            await self._more()
            h = _parse_header(self._mv[self._pos:self._end])
            if h is not None:
                return h

    async def _read_payload(self, start=0, length=0):
        """Read a payload too big for the receive buffer into its own.

        The part already buffered (from ``start`` on) is copied; the rest is
        read straight into the new buffer, unmasked and validated as it
        arrives. The progress is kept in ``_data`` and ``_done``: called
        without ``length``, this goes on with the payload a cancelled call
        was reading.
        """
        if length:
            try:
                data = bytearray(length)
            except (MemoryError, OverflowError):   # >= 2**31 on 32 bits
                skip = start - self._pos + length   # the whole frame
                await self._fail(1009, 'Message too large', skip)
            got = self._end - start
            data[:got] = self._mv[start:self._end]
            self._pos = self._end = 0
            self._data = data
            self._done = 0
        else:
            data = self._data
            got = self._done
        view = memoryview(data)
        while True:
            done = self._done
            if got > done:
                chunk = view[done:got]
                _mask(chunk, self._key, done & 3)
                self._done = got
                if self._opcode == 1:
                    self._utf8 = _utf8_validate(chunk, self._utf8)
                    if self._utf8 < 0:
                        await self._fail(1007, 'invalid UTF-8')
            if got == len(data):
                self._data = None
                return data
            got += await self._read(view[got:])

    async def _on_close(self, payload):
        """Answer a Close frame from the client and raise."""
        code = None
        if payload:
            code = payload[0] << 8 | payload[1] if len(payload) > 1 else 0
            if not (code in _CLOSE_CODES or 3000 <= code <= 4999):
                await self._fail(1002, 'invalid close frame')
            if _utf8_validate(payload[2:]):
                await self._fail(1007, 'invalid close reason')
        # Echo the status code (RFC 6455 5.5.1), without the reason.
        await self._close(code, -1)
        raise WebSocketError('Websocket connection closed')

    async def _answer(self, payload):
        """Answer a ping: now, or, if another task is writing a frame,
        right after it (so a cancelled receive() loses no pong)."""
        if not self.closed:
            if self._writing:
                self._pong = bytes(payload)
            else:
                await self.send(payload, 10)

    async def _fail(self, code, reason, skip=-1):
        """Fail the connection with a Close frame of ``code``; raise.

        :param skip: bytes from the current frame's start to its end, when
                     the stream is still in sync: the client's answer is
                     then awaited before the socket closes.
        """
        await self._close(code, skip)
        raise WebSocketError(reason)

    async def _close(self, code, skip=None):
        """Mark the connection closed and send a Close frame, unless done.

        :param code: the status code, or ``None`` for none.
        :param skip: ``-1``, or bytes to the end of the current frame: then
                     data up to the client's Close frame is read and dropped
                     (closing the socket with unread data would send a TCP
                     reset, which can destroy the Close frame in flight).
                     ``None``: ``0``, or if another task is receiving, wait
                     until it has got the client's Close frame.

        A frame another task is sending goes first, but the client may have
        stopped reading: all this ends within :attr:`close_timeout`, after
        which the socket is closed.
        """
        self._stop_keepalive()
        if self.closed:
            return
        self.closed = True
        if skip is None and not self._reading:
            skip = 0
        payload = b'' if code is None else code.to_bytes(2, 'big')
        try:
            await asyncio.wait_for(self._closing(payload, skip),
                                   self.close_timeout)
        except Exception:   # a timeout, a reset, garbage: stop waiting
            self._abort()
        except BaseException:
            # Cancelled (a receive() under wait_for(), say): the closing
            # handshake cannot be finished later.
            self._abort()
            raise

    async def _closing(self, payload, skip):
        self._pong = None
        await self.send(payload, 8)
        if skip is None:
            while self._reading:   # the receiving task gets the Close
                await asyncio.sleep(0.02)
        elif skip >= 0:
            self._reading = True
            try:
                await self._drop(skip)
            finally:
                self._reading = False

    async def _drop(self, skip):
        """Read and drop data up to the client's Close frame."""
        if self._data is not None:
            # The rest of the payload a cancelled receive() was reading.
            skip += len(self._data) - self._done
            self._data = None
        while True:
            while skip:
                have = self._end - self._pos
                if not have:
                    await self._more()
                    continue
                if have > skip:
                    have = skip
                self._pos += have
                skip -= have
            h = _parse_header(self._mv[self._pos:self._end]) or \
                await self._read_header()
            if h[1] == 8:
                return
            skip = h[4] + h[3]

    def _more(self):
        """Read at least one more byte into the receive buffer: await it.

        A plain function returning the read (one coroutine less per read).
        """
        pos = self._pos
        end = self._end - pos
        if pos:
            # Move the unconsumed bytes to the front (a memmove).
            if end:
                self._mv[:end] = self._mv[pos:pos + end]
            self._pos = 0
            self._end = end
        return self._read(self._mv[end:], True)

    async def _read(self, buf, more=False):
        """Read into ``buf``; return the byte count (never 0).

        :param more: ``buf`` is the free end of the receive buffer: count
                     the bytes read into it in ``_end``.
        """
        readinto = self._readinto
        try:
            while True:
                if readinto is not None:
                    n = await readinto(buf)
                else:
                    data = await self.request.sock[0].read(len(buf))
                    n = len(data)
                    buf[:n] = data
                if n:
                    self._heard += 1
                    if more:
                        self._end += n
                    return n
                if n is not None:
                    break   # end of stream
        except OSError:
            pass
        self.closed = True
        self._stop_keepalive()
        raise WebSocketError('Websocket connection closed')

    # Sending

    async def _wait_writer(self):
        """Wait until no other task is writing a frame."""
        while self._writing:
            if self._idle is None:
                self._idle = asyncio.Event()
            await self._idle.wait()

    # Keepalive

    def _start_keepalive(self):
        if self.ping_interval is not None:
            self._keeper = asyncio.create_task(self._keepalive())

    def _stop_keepalive(self):
        keeper = self._keeper
        if keeper is not None:
            self._keeper = None
            keeper.cancel()

    async def _keepalive(self):
        """Ping the client when it has been silent for ``ping_interval``;
        drop it when it stays silent ``ping_timeout`` more while a task
        waits for its frames."""
        interval = self.ping_interval
        timeout = self.ping_timeout
        try:
            while True:
                heard = self._heard
                await asyncio.sleep(interval)
                if self._heard != heard:
                    continue
                if not self._writing:   # else a frame is stuck, or going
                    await self.send(b'', 9)
                if timeout is None:
                    continue
                await asyncio.sleep(timeout)
                if self._heard == heard and self._reading:
                    break
        except (OSError, WebSocketError):
            return   # the connection ended
        self._keeper = None   # do not cancel this task when closing
        await self._close(1011, -1)
        self._abort()   # the task in receive() gets an error

    def _abort(self):
        """Close the socket under the tasks blocked on it: they get an
        error."""
        self._torn = True
        transport = getattr(self._writer, 'transport', None)
        try:
            if transport is not None:
                transport.abort()   # CPython: close() waits for the peer
            else:
                self._writer.s.close()   # MicroPython's stream
        except (AttributeError, OSError):
            pass

    # Upstream Microdot 2.7.0's private frame helpers. This module does not
    # use them; they are kept, with upstream's behaviour, because
    # microdot.test_client builds and parses its frames with them, and
    # applications written against upstream may call them too.

    @classmethod
    def _parse_frame_header(cls, header):
        """Parse the first two header bytes, upstream Microdot's way.

        Returns ``(fin, opcode, has_mask, length)`` where ``length`` is
        ``-2`` or ``-8`` when that many extended length bytes follow.
        """
        fin = header[0] & 0x80
        opcode = header[0] & 0x0f
        if fin == 0 or opcode == cls.CONT:
            raise WebSocketError('Continuation frames not supported')
        has_mask = header[1] & 0x80
        length = header[1] & 0x7f
        if length == 126:
            length = -2
        elif length == 127:
            length = -8
        return fin, opcode, has_mask, length

    @classmethod
    def _encode_websocket_frame(cls, opcode, payload):
        """Return a whole unmasked frame, as upstream Microdot does."""
        if isinstance(payload, str):
            payload = payload.encode()
        frame = bytearray(14)
        hlen = _build_header(frame, opcode, len(payload))
        frame[hlen:] = payload
        return frame


def _new_scratch():
    global _scratch
    _scratch = memoryview(bytearray(14 + _SMALL))
    return _scratch


def _http11(version):
    """True for HTTP/1.1 and later (RFC 6455 4.2.1)."""
    try:
        major, minor = version.split('.')
        return (int(major), int(minor)) >= (1, 1)
    except ValueError:
        return False


def _has_token(value, token):
    """True if the comma-separated header ``value`` holds ``token``."""
    if value:
        for item in value.split(','):
            if item.strip().lower() == token:
                return True
    return False


def _valid_key(key):
    """True if ``key`` is the base64 encoding of 16 bytes."""
    if len(key) != 24 or key[22:] != '==':
        return False
    for c in key[:22]:
        if c not in _B64:
            return False
    # 22 digits of 6 bits hold 16 bytes and 4 bits, which must be zero
    # (RFC 4648 3.5: the canonical encoding).
    return _B64.index(key[21]) & 15 == 0


def _origin_allowed(origin, host, allowed):
    """True if a page of ``origin`` may open a WebSocket on ``host``."""
    if isinstance(allowed, str):
        allowed = (allowed,)
    scheme, sep, netloc = origin.lower().partition('://')
    if sep and scheme in ('http', 'https') and netloc == host.lower():
        return True   # same origin
    for o in allowed:
        if o == '*' or o.lower() == origin.lower():
            return True
    return False


async def _after_error(request, response):
    """Microdot's error-response hook, installed by this module.

    Nothing may be written on a socket a WebSocket has taken over (a
    handler that lets :exc:`WebSocketError` escape ends up here), and a
    ``426`` answer to an upgrade names the version this server speaks.
    """
    if request is not None:
        ws = getattr(request.g, '_ws', None)
        if ws is not None:
            ws._stop_keepalive()
            return Response.already_handled
        if response.status_code == 426 and \
                getattr(request.g, '_ws_version', False):
            response.headers['Sec-WebSocket-Version'] = '13'
    return response


def _hook(request):
    handlers = request.app.after_error_request_handlers
    if _after_error not in handlers:
        handlers.append(_after_error)


def _want_version_header(request):
    """Have the ``426`` response to ``request`` name the version we speak.

    ``abort()`` cannot add headers: the error-response hook does.
    """
    request.g._ws_version = True
    _hook(request)


async def websocket_upgrade(request):
    """Upgrade a request handler to a websocket connection.

    This function can be called directly inside a route function to process a
    WebSocket upgrade handshake, for example after the user's credentials are
    verified. The function returns the websocket object::

        @app.route('/echo')
        async def echo(request):
            if not authenticate_user(request):
                abort(401)
            ws = await websocket_upgrade(request)
            while True:
                message = await ws.receive()
                await ws.send(message)
    """
    ws = WebSocket(request)
    await ws.handshake()
    request.g._ws = ws
    _hook(request)
    ws._start_keepalive()

    @request.after_request
    async def after_request(request, response):
        ws._stop_keepalive()
        return Response.already_handled

    return ws


def websocket_wrapper(f, upgrade_function):
    """Wrap route ``f`` in a WebSocket upgrade made by ``upgrade_function``.

    The handler gets the WebSocket as its second argument; the connection
    is closed when it returns or raises: with status 1011 if it raised
    anything but :exc:`WebSocketError` (RFC 6455 7.4.1).
    """
    @wraps(f)
    async def wrapper(request, *args, **kwargs):
        ws = await upgrade_function(request)
        code = 1011
        try:
            await f(request, ws, *args, **kwargs)
            code = 1000
        except OSError as exc:
            if exc.errno not in MUTED_SOCKET_ERRORS:  # pragma: no cover
                raise
        except WebSocketError:
            code = 1000
        except Exception as exc:
            print_exception(exc)
        finally:  # pragma: no cover
            try:
                if code == 1000 or type(ws).close is not WebSocket.close:
                    await ws.close()   # (microdot.asgi's closes its way)
                else:
                    await ws._close(code)
            except Exception:
                pass
        return Response.already_handled
    return wrapper


def with_websocket(f):
    """Decorator to make a route a WebSocket endpoint.

    This decorator is used to define a route that accepts websocket
    connections. The route then receives a websocket object as a second
    argument that it can use to send and receive messages::

        @app.route('/echo')
        @with_websocket
        async def echo(request, ws):
            while True:
                message = await ws.receive()
                await ws.send(message)
    """
    return websocket_wrapper(f, websocket_upgrade)
