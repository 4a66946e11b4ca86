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

How it reads, in two layers as the ``websockets`` library does: a frame
layer turns the bytes read into frames (a header parsed and checked against
RFC 6455, the payload unmasked and, for text, validated as it arrives,
control frames answered) and a message layer turns data frames into
messages (the order of fragments, :attr:`WebSocket.max_message_length`
decided from each header before anything is allocated, the type
returned). Each connection has a 256-byte receive buffer that headers and
small frames are read into, several frames per read when the client
pipelines them, straight from the socket while it has data; a message in
one such frame is copied out of it into the ``str`` or ``bytes`` returned.
A larger payload, and a fragmented message, is read into one
``ws_mask.Payload`` that becomes the ``str``, ``bytes`` or ``bytearray``
returned without a copy: a message costs its size in memory once. A small
message costs about 170 bytes of garbage: ``receive()``'s coroutine and
the message itself. :meth:`WebSocket.receive` can be cancelled (for an
idle timeout) without losing data; a :meth:`WebSocket.send` cancelled or
failing halfway through a frame closes the connection, as nothing can
follow the cut frame.

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
import gc
import hashlib

from microdot import Request, Response, abort
from microdot import _asyncio_fixes  # noqa: F401
from microdot.microdot import MUTED_SOCKET_ERRORS, print_exception
from microdot.helpers import wraps

try:
    import ws_mask
except ImportError:
    from microdot import _ws_mask as ws_mask

try:
    from micropython import const   # folded in: no global, no lookup
except ImportError:   # CPython: const(256) is 256
    const = int

# MicroPython grows a module's globals table only once it is full, and a
# builtin (len, str...) is looked for here first, up to a free slot: this
# module has 38 globals, in a table of 47.
_header = ws_mask.header
_build_header = ws_mask.build_header
_mask = ws_mask.mask
_copy = ws_mask.copy
_utf8_validate = ws_mask.utf8_validate

_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
_B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

# Receive buffer per connection. It holds any whole control frame (14 header
# bytes + 125), and small data frames are read into it several at a time.
_RBUF = const(256)
# Frames with up to this many payload bytes go out in one write, copied
# behind their header in a scratch buffer shared by all connections.
_SMALL = const(1024)
_scratch = memoryview(bytearray(14 + _SMALL))
# Small frames sent in a row without yielding to other tasks.
_BURST = const(8)

# A fragment but the last counts as at least this many bytes against
# max_message_length: a flood of tiny fragments costs memory per fragment.
_FRAGMENT_COST = const(64)

# Close codes a peer may send (RFC 6455 7.4.1, IANA registry): others, and
# 1004-1006 and 1015 in particular, are a protocol error.
_CLOSE_CODES = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                1013, 1014)


class WebSocketError(Exception):
    """Exception raised when an error occurs in a WebSocket connection."""
    pass


class _Fail(Exception):
    # Raised in the plain functions of the receive path, which cannot
    # await: its args are those of the WebSocket._fail() call to make,
    # (code, reason, skip).
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
    #: default) or ``bytearray``. Either is made around the memory the
    #: payload was read and unmasked in, without a copy (a message in one
    #: frame of up to 242 bytes is copied out of the receive buffer).
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
        # The attributes are in a hash table that every method lookup
        # searches first, up to a free slot, and MicroPython grows it only
        # once it is full: these 25 leave 4 of its 29 slots free (23 would
        # leave none).
        self._reader = request.sock[0]
        self._writer = request.sock[1]
        # MicroPython's stream: its non-blocking socket, read and written
        # at once when it is ready (see _direct()).
        self._sock = self._direct()
        # The receive buffer is a Payload that is never taken: its view()
        # is a memoryview of any part of it without allocating one.
        self._rbuf = ws_mask.Payload(_RBUF)
        self._mv = memoryview(self._rbuf)
        self._pos = 0   # start of unconsumed data in the receive buffer
        self._end = 0   # end of the data in it
        self._key = bytearray(4)   # the current frame's masking key
        self._writing = False   # a task is writing a frame
        # Nothing may be written any more: a frame went out in part, or
        # the Close frame went out.
        self._torn = False
        self._burst = 0   # reads and small sends since the last yield
        self._idle = None   # an Event for tasks waiting to write
        self._pong = None   # a ping's payload, to be answered
        self._reading = False
        self._heard = 0   # reads that returned data: signs of life
        self._keeper = None   # the keepalive task
        # The frame being received: its header (ws_mask.header(), 0 until
        # it is parsed and checked) and, for a frame too big for the
        # receive buffer, the payload bytes still to read into _msg.
        self._h = 0
        self._left = 0
        # The message being received: its opcode (0 between messages), the
        # bytes charged against max_message_length, and the Payload its
        # data is gathered in (None for a message in one small frame).
        self._opcode = 0
        self._flen = 0
        self._msg = None
        # A violation found where nothing can be awaited: the arguments of
        # the _fail() call to make.
        self._failed = None
        self._big = False   # a message had a buffer of its own: see _done()

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
        # Without a try or a local more than needed: MicroPython allocates
        # this coroutine's frame with every call.
        while True:
            msg = self._next()
            if msg is not None:
                return msg
            await self._frame_io()

    async def send(self, data, opcode=None):
        """Send a message to the client.

        :param data: the data to send, given as a string or bytes.
        :param opcode: a custom frame opcode to use. If not given, the opcode
                       is ``TEXT`` or ``BINARY`` depending on the type of the
                       data.

        Frames sent by concurrent tasks never interleave. Raises
        :exc:`WebSocketError` once the connection is closed.
        """
        if opcode is None:
            opcode = 1 if isinstance(data, str) else 2
        buf = _bytes_of(data)   # data stays referenced here meanwhile
        if self._writing:
            await self._wait_writer()
        # Once closed, only the Close frame itself may still go out, and
        # nothing after a frame cut short or after the Close frame.
        if self._torn or self.closed and opcode != 8:
            raise WebSocketError('Websocket connection closed')
        if self._sock is not None and len(buf) <= _SMALL:
            # A small frame goes out at once when the socket takes it
            # whole; no other task waits meanwhile.
            if self._write_small(buf, opcode):
                if opcode == 8:
                    self.closed = self._torn = True
                # Let the other tasks run every _BURST sends (as
                # Stream.drain() would every time).
                self._burst += 1
                if self._burst >= _BURST:
                    self._burst = 0
                    await asyncio.sleep(0)
                return
            buf = None   # the rest of it is in the stream's out_buf
        await self._write(buf, opcode)

    async def _write(self, buf, opcode):
        """Write the frame of ``buf`` (None: what is left of a frame, in
        the stream's out_buf) and the pong of a ping received meanwhile,
        while other tasks wait to write."""
        self._writing = True
        writer = self._writer
        try:
            while True:
                if buf is None:
                    await writer.drain()
                elif not hasattr(writer, 'out_buf'):
                    await self._write_stream(buf, opcode)
                elif len(buf) <= _SMALL:
                    # Stream.drain() yields to the scheduler even when the
                    # socket took everything; do that only every _BURST
                    # sends (CPython's drain() does not yield at all then).
                    self._burst += 1
                    if not self._write_small(buf, opcode) or \
                            self._burst >= _BURST:
                        self._burst = 0
                        await writer.drain()
                else:
                    # The header, then the payload from the caller's
                    # buffer: what the socket does not take at once,
                    # drain() writes from a memoryview of out_buf
                    # (Stream.write() would copy it; on an ESP32, most of
                    # a large payload).
                    n = len(buf)
                    scratch = _scratch
                    if not self._write_now(
                            scratch, _build_header(scratch, opcode, n)):
                        await writer.drain()
                    sent = writer.s.write(buf) or 0
                    if sent < n:
                        writer.out_buf = memoryview(buf)[sent:] if sent \
                            else buf
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
        except BaseException as exc:
            if getattr(writer, 'out_buf', None) or isinstance(exc, OSError):
                # Cancelled or failed with part of the frame unsent: drain()
                # does not keep how much went out, so the frame can neither
                # be finished nor followed by another. Drop the rest (it
                # may be the caller's object) and close the connection.
                if hasattr(writer, 'out_buf'):
                    writer.out_buf = b''
                self.closed = self._torn = True
            raise
        finally:
            self._writing = False
            if self._idle is not None:
                self._idle.set()
                self._idle = None

    async def _write_stream(self, buf, opcode):
        """Write a frame to a stream that is not MicroPython's (CPython's,
        Microdot's test client's): in one write."""
        hlen = _build_header(_scratch, opcode, len(buf))
        await self._writer.awrite(bytes(_scratch[:hlen]) + buf)
        # CPython's drain() does not yield while its buffer has room: a
        # tight send loop would starve the other tasks.
        self._burst += 1
        if self._burst >= _BURST:
            self._burst = 0
            await asyncio.sleep(0)

    def _write_small(self, buf, opcode):
        """Write a frame of up to _SMALL bytes to MicroPython's stream in
        one write, copied behind its header into a scratch buffer shared
        by all connections; True if the socket took it all, else the rest
        is in the stream's out_buf (copied, as Stream.write() does)."""
        scratch = _scratch
        n = len(buf)
        hlen = _build_header(scratch, opcode, n)
        scratch[hlen:hlen + n] = buf
        return self._write_now(scratch, hlen + n)

    def _write_now(self, buf, n):
        """Write ``buf[:n]`` to the socket, with nothing left in out_buf;
        True if it took it all, else the rest goes to out_buf, copied."""
        sent = self._writer.s.write(buf, 0, n) or 0
        if sent == n:
            return True
        self._writer.out_buf = bytes(memoryview(buf)[sent:n])
        return False

    async def close(self):
        """Close the websocket connection.

        Sends a Close frame with status 1000, marks the connection as
        closed, and waits for the client's Close frame (when another task
        is receiving, until that task has got it), all within
        :attr:`close_timeout`. Does nothing if the connection is already
        closed.
        """
        await self._close(1000)

    # Receiving. receive() takes messages from _next(), which runs the
    # frame layer (_frame(): frames from the bytes read) into the message
    # layer (_admit() and _message(): messages from data frames) on what
    # is buffered and what the socket has at once, as plain functions;
    # for the rest, it awaits _frame_io(): a wait for bytes, a control
    # frame to answer, a violation to fail the connection for. A frame's
    # header is parsed and checked once (and kept in _h); a frame that
    # fits the receive buffer is acted on once it is all there, and a
    # larger one's payload is read straight into the message's Payload,
    # unmasked and validated as it arrives. Nothing is consumed before it
    # is used, so a cancelled receive() loses nothing.

    def _next(self):
        """The next message, if the bytes buffered (and those the socket
        has at once) complete it: frames from the frame layer
        (:meth:`_frame`) into the message layer (:meth:`_message`).

        None: :meth:`_frame_io` must act first. A violation found here is
        left for it to fail the connection with (in ``_failed``).
        """
        if self._failed is not None:
            return None
        try:
            while True:
                h = self._frame()
                if not h:
                    return None
                msg = self._message(h)
                if msg is not None:
                    return msg
        except _Fail as exc:
            self._failed = exc.args
        except MemoryError:
            # Too little memory for the message is a message too big to
            # process (RFC 6455 7.4.1). The frame was consumed.
            self._msg = None
            self._failed = (1009, 'Message too large', 0)
        return None

    async def _frame_io(self):
        """What receive() awaits: wait for bytes from the client, or fail
        the connection, or answer the ping or Close frame buffered."""
        self._reading = True
        try:
            if self._failed is None and not self._control():
                try:
                    n = await self._wait()
                except OSError:
                    n = 0
                self._took(n)
            else:
                await self._act()
        finally:
            self._reading = False

    def _control(self):
        """True if the frame at ``_pos`` is a control frame, all there."""
        h = self._h
        return h & 8 and self._pos + (h >> 4 & 15) + (h >> 10) <= self._end

    async def _act(self):
        """Fail the connection for the violation found, or answer the ping
        or Close frame buffered."""
        failed = self._failed
        if failed is not None:
            self._failed = None
            await self._fail(*failed)
        h = self._h
        start = self._pos + (h >> 4 & 15)
        stop = start + (h >> 10)
        _mask(self._rbuf, self._key, 0, start, stop)
        self._h = 0
        self._pos = stop
        if h & 15 == 9:
            await self._answer(_copy(self._rbuf, start, stop))
        else:
            await self._on_close(start, stop)

    def _frame(self):
        """The next data frame, if it can be had without waiting.

        Returns its header (see ``ws_mask.header()``) once its payload is
        unmasked in place: a small frame's in the receive buffer, ending at
        ``_pos``; a large one's in ``_msg``. Pongs are dropped on the way.
        ``0``: :meth:`_frame_io` must wait for bytes, or answer a ping or a
        Close frame, first.
        """
        while True:
            h = self._h or self._next_header()
            if h and not self._left:
                size = (h >> 4 & 15) + (h >> 10)
                stop = self._pos + size
                if size > _RBUF:   # a large frame, read
                    self._h = 0
                    return h
                if stop <= self._end:   # a small frame, whole
                    if h & 8 and h & 15 != 10:
                        return 0   # a ping or a Close frame
                    self._h = 0
                    self._pos = stop
                    if not h & 8:
                        _mask(self._rbuf, self._key, 0, stop - (h >> 10),
                              stop)
                        return h
                    continue   # a pong
            if not self._read_now():
                return 0

    def _next_header(self):
        """Parse and check the header at ``_pos``; 0 if incomplete.

        RFC 6455's rules for any frame (5.2, 5.5), and for a data frame the
        message layer's (:meth:`_admit`), are applied here, before the
        payload is read; the masking key is copied to ``_key``.
        """
        pos = self._pos
        try:
            h = _header(self._rbuf, pos, self._end)
        except ValueError as exc:
            raise _Fail(1002, str(exc), -1)
        if h:
            pos += h >> 4 & 15
            if not h & 0x200:
                raise _Fail(1002, 'unmasked frame', pos - self._pos +
                            (h >> 10))
            mv = self._mv
            key = self._key   # filled in place: no allocation
            key[0] = mv[pos - 4]
            key[1] = mv[pos - 3]
            key[2] = mv[pos - 2]
            key[3] = mv[pos - 1]
            self._h = h
            if not h & 8:
                self._admit(h)
                if self._left:
                    self._start_payload(pos)
        return h

    def _start_payload(self, pos):
        """Move the part of a large payload already buffered (from
        ``pos`` on) into ``_msg``; the rest is read there directly."""
        p = self._msg
        at = len(p) - self._left
        n = self._end - pos
        p.view(at, at + n)[:] = self._rbuf.view(pos, self._end)
        self._pos = self._end = 0
        self._got(n)

    # Receiving, the reads: into the receive buffer's free end, or into
    # the rest of the large payload being read.

    def _target(self):
        """The memoryview the next read goes into.

        The receive buffer's unconsumed bytes are moved to its front first
        (a memmove).
        """
        left = self._left
        if left:
            p = self._msg
            return p.view(len(p) - left)
        pos = self._pos
        if pos:
            n = self._end - pos
            if n:
                self._mv[:n] = self._rbuf.view(pos, self._end)
            self._pos = 0
            self._end = n
        return self._rbuf.view(self._end)

    def _got(self, n):
        """Take in ``n`` bytes just put into the read target."""
        left = self._left
        if not left:
            self._end += n
            return
        p = self._msg
        at = len(p) - left
        _mask(p, self._key, ((self._h >> 10) - left) & 3, at, at + n)
        self._left = left - n
        if self._opcode == 1 and p.utf8_validate(at + n) < 0:
            raise _Fail(1007, 'invalid UTF-8', -1)

    def _read_now(self):
        """Read what the socket has, without waiting; the byte count.

        ``0`` when it has nothing, and after _BURST reads and small sends
        without yielding: then :meth:`_wait` lets the other tasks run
        first.
        """
        sock = self._sock
        if sock is None or self._burst >= _BURST:
            return 0
        try:
            n = sock.readinto(self._target())
        except OSError:
            n = 0
        if n is None:
            return 0   # nothing yet
        if not n:
            self._lost()
        self._burst += 1
        self._heard += 1
        self._got(n)
        return n

    def _wait(self):
        """Wait for data from the client: return the awaitable that reads
        it into the read target, and gives the byte count (0: the end of
        the stream; None: nothing read).

        After _BURST reads in a row straight from the socket, which may
        well have more, this is only a pass to the other tasks
        (``asyncio.sleep(0)``, which allocates nothing on MicroPython).
        """
        burst = self._burst
        self._burst = 0
        if burst >= _BURST and self._sock is not None:
            return asyncio.sleep(0)
        if self._sock is None:
            self._sock = self._direct()
        reader = self._reader
        # MicroPython's streams read into buffers; CPython's and Microdot's
        # test streams only have read(). (Looked up each time:
        # microdot.server's reader hands over to the socket's stream once
        # the data it read ahead is used up.)
        readinto = getattr(reader, 'readinto', None)
        if readinto is not None:
            return readinto(self._target())
        return self._read_data(reader)

    async def _read_data(self, reader):
        data = await reader.read(self._room())
        n = len(data)
        if n:
            self._target()[:n] = data
        return n

    def _took(self, n):
        """Take in what a read of :meth:`_wait` gave."""
        if n is None:
            return
        if not n:
            self._lost()
        self._heard += 1
        try:
            self._got(n)
        except _Fail as exc:
            self._failed = exc.args   # for receive() to act on

    def _direct(self):
        """The socket of MicroPython's stream, if the reader reads it
        straight (it has no data of its own read ahead); else None."""
        writer = self._writer
        if hasattr(writer, 'out_buf') and getattr(
                self._reader, 'readinto', None) == writer.readinto:
            return writer.s
        return None

    def _room(self):
        """The size of the read target."""
        return self._left or _RBUF - self._end + self._pos

    def _lost(self):
        self.closed = True
        self._stop_keepalive()
        raise WebSocketError('Websocket connection closed')

    # Receiving, the message layer: messages from data frames.

    def _admit(self, h):
        """Check a data frame's header against the message so far and the
        limit, and make room for its payload, before any of it is read."""
        length = h >> 10
        skip = (h >> 4 & 15) + length   # the whole frame: skipped on errors
        fin = h & 0x100
        if h & 15:   # a new message
            if self._opcode:
                raise _Fail(1002, 'expected a continuation frame', skip)
            if not fin and not self.accept_fragments:
                raise _Fail(1003, 'fragments not supported', skip)
            self._flen = 0
        elif not self._opcode:
            raise _Fail(1002, 'unexpected continuation frame', skip)
        limit = self.max_message_length
        if limit == -1:
            limit = Request.max_body_length
        cost = length if fin or length > _FRAGMENT_COST else _FRAGMENT_COST
        if limit and self._flen + cost > limit:
            raise _Fail(1009, 'Message too large', skip)
        if skip > _RBUF or not fin or self._msg is not None:
            # Room in the message's Payload (a message in one small frame
            # is copied out of the receive buffer at the end instead).
            try:
                if self._msg is None:
                    self._msg = ws_mask.Payload(0)
                    self._big = True
                self._msg.grow(len(self._msg) + length, limit)
            except (MemoryError, OverflowError):   # >= 2**31 on 32 bits
                self._msg = None
                raise _Fail(1009, 'Message too large', skip)
            if skip > _RBUF:
                self._left = length   # read straight into that room
        self._flen += cost
        if h & 15:
            self._opcode = h & 15

    def _message(self, h):
        """Add a data frame's payload to the message; return the message
        once complete (None before).

        It is made from the memory the payload was read into: a Payload
        taken as ``str``, ``bytes`` or ``bytearray``, or, for a message in
        one small frame, one copy out of the receive buffer.
        """
        text = self._opcode == 1
        t = str if text else self.binary_type
        stop = self._pos   # where a small frame's payload ends
        p = self._msg
        try:
            if p is None:
                self._opcode = 0
                return _copy(self._rbuf, stop - (h >> 10), stop, t)
            n = h >> 10
            if (h >> 4 & 15) + n <= _RBUF:   # a small fragment: copied
                p.view(len(p) - n)[:] = self._rbuf.view(stop - n, stop)
                if text and p.utf8_validate() < 0:
                    raise ValueError
            if not h & 0x100:
                return None
            self._msg = None
            self._opcode = 0
            return p.take(t)
        except ValueError:
            raise _Fail(1007, 'invalid UTF-8', -1)

    async def _on_close(self, start, stop):
        """Answer a Close frame from the client (its payload is
        ``_rbuf[start:stop]``) and raise."""
        code = None
        if stop > start:
            mv = self._mv
            code = mv[start] << 8 | mv[start + 1] if stop - start > 1 else 0
            if not (code in _CLOSE_CODES or 3000 <= code <= 4999):
                await self._fail(1002, 'invalid close frame')
            if _utf8_validate(self._rbuf, 0, start + 2, stop):
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
        """Read and drop data up to the client's Close frame.

        :param skip: bytes from ``_pos`` to the end of the current frame.

        What the socket has is read at once, as :meth:`receive` does: a
        message refused for its size is drained, megabytes of it perhaps,
        with no garbage left behind (garbage piling up moves every new
        object up the heap, where the ones that stay split the free memory
        a large message on another connection needs).
        """
        # The rest of a large payload a cancelled receive() was reading
        # comes into the receive buffer now, to be dropped.
        skip += self._left
        self._left = self._h = 0
        self._msg = None
        while True:
            if skip:
                have = self._end - self._pos
                if have > skip:
                    have = skip
                self._pos += have
                skip -= have
                if not skip:
                    continue
            else:
                h = _header(self._rbuf, self._pos, self._end)
                if h & 15 == 8:
                    return
                if h:
                    skip = (h >> 4 & 15) + (h >> 10)
                    continue
            if not self._read_now():
                try:
                    n = await self._wait()
                except OSError:
                    n = 0
                self._took(n)

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

    def _done(self):
        """The handler is done with the connection: stop the keepalive,
        and collect the garbage if a message had a buffer of its own.

        MicroPython allocates first fit and never moves an object: the
        next connection's objects would otherwise go into the holes this
        one's payloads leave, and split the free heap for good (on a
        192 KiB heap, 64 KiB messages instead of 128 KiB).
        """
        self._stop_keepalive()
        if self._big:
            self._big = False
            gc.collect()

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


def _bytes_of(data):
    """The bytes of ``data`` to send: ``data`` itself, or a view of it."""
    if isinstance(data, str):
        try:
            return memoryview(data)   # MicroPython: the UTF-8 bytes
        except TypeError:
            return data.encode()
    if type(data) is bytes or type(data) is bytearray:
        return data
    # A memoryview or an array of wider items as a view of bytes (into
    # data, which must stay referenced meanwhile).
    return ws_mask.byteview(data)


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
            ws._done()
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
        ws._done()
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
            ws._done()
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
