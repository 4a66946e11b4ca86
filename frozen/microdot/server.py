"""Microdot's HTTP server with the limits a board on a shared LAN needs.

On this firmware ``from microdot import Microdot`` gives this class: the
application API is upstream Microdot 2.7.0's, unchanged. What differs is how
a connection is served before upstream's code sees it. Each request head
(and a body small enough for Microdot to read at once) is read here, under a
deadline and size limits, and checked; only a request that passes reaches
upstream's parser, which then reads it from memory. Every limit is a class
attribute, which an application may change on the class or on its instance;
``None`` switches one off::

    from microdot import Microdot

    app = Microdot()
    app.allowed_hosts = ['camera.example', 'localhost']

A request that breaks a limit gets a short error response and its connection
is closed: ``400`` for a malformed head, ``408`` for one not sent in time,
``414`` or ``431`` for one too long, ``421`` for a ``Host`` the server does
not answer to, ``503`` for a connection over :attr:`Microdot.max_connections`.
A connection that sends nothing is closed without a response.
"""
import asyncio

from microdot import _asyncio_fixes  # noqa: F401
from microdot.microdot import Microdot as _Microdot, Request

_REASONS = {
    400: b'Bad Request',
    408: b'Request Timeout',
    414: b'URI Too Long',
    421: b'Misdirected Request',
    431: b'Request Header Fields Too Large',
    503: b'Service Unavailable',
}

# The most bytes read from a socket at once while reading a request.
_CHUNK = 512


class Microdot(_Microdot):
    """A Microdot application whose server enforces limits (see above)."""

    #: Seconds a client has to send a request's head, and its body when it
    #: is small enough for Microdot to read before the route runs (up to
    #: ``Request.max_body_length``). ``408`` then.
    request_timeout = 10

    #: Seconds a new connection may stay silent before its request begins;
    #: it is then closed without a response. (Microdot answers one request
    #: per connection and closes it, so this is the only idle time an HTTP
    #: connection has.)
    idle_timeout = 5

    #: The most header lines a request may have: ``431`` beyond.
    max_headers = 32

    #: The most bytes a request's head (request line and headers) may
    #: have: ``431`` beyond. Each line is also held to
    #: ``Request.max_readline`` (``414`` for the request line).
    max_head_length = 8192

    #: Connections served at once, WebSockets included. One more is
    #: answered with ``503`` and closed at once. Keep it below the number
    #: of sockets the board has (the ESP32-CAM's sdkconfig says how it is
    #: derived there).
    max_connections = 10

    #: Host names the server answers to (the ``Host`` header without its
    #: port; case does not matter). IP addresses are always accepted: a
    #: DNS rebinding attack needs a name. ``None`` (the default) accepts
    #: ``localhost`` and the board's own name, ``network.hostname()``, with
    #: and without ``.local``; a list gives the names, where ``'.home'``
    #: accepts any name ending so, and ``'*'`` accepts every name.
    #: Others get ``421``.
    allowed_hosts = None

    def __init__(self):
        super().__init__()
        #: Connections being served now.
        self.connections = 0

    async def handle_request(self, reader, writer):
        cap = self.max_connections
        if cap is not None and self.connections >= cap:
            await _reply(writer, 503)
            return
        self.connections += 1
        try:
            req = _Head(reader)
            try:
                status = await asyncio.wait_for(self._read_request(req),
                                                self.request_timeout)
            except asyncio.TimeoutError:
                status = 408 if req.size else -1
            except Exception:   # the client left, reset, or ran us out of
                status = -1     # memory: close the connection
            if status:
                await _reply(writer, status)
            else:
                await super().handle_request(req, writer)
        finally:
            self.connections -= 1

    async def _read_request(self, req):
        """Read and check a request; return 0 if it may be served, else the
        error status (-1: close without a response)."""
        await asyncio.wait_for(req.fill(), self.idle_timeout)
        status = await req.read_head(self.max_headers or 0,
                                     self.max_head_length or 0)
        if not status:
            status = req.parse()
        if not status and not self.host_allowed(req.host):
            status = 421
        if not status:
            await req.read_body(Request.max_body_length)
        return status

    def host_allowed(self, host):
        """True if this server answers to ``host``, a ``Host`` header.

        ``None`` (no header) is allowed: HTTP/1.0 does not send one, and a
        browser always does.
        """
        if host is None:
            return True
        name = _host_name(host)
        if name is None:
            return False
        if name[0] == '[' or _is_ipv4(name):
            return True
        hosts = self.allowed_hosts
        if hosts is None:
            hosts = _own_names()
        elif isinstance(hosts, str):
            hosts = (hosts,)
        for allowed in hosts:
            if allowed == '*' or name == allowed.lower() or \
                    (allowed.startswith('.') and
                     name.endswith(allowed.lower())):
                return True
        return False


class _Head:
    """A connection's request, read here first, then served to Microdot's
    parser from memory; once that is used up, calls go to the socket's own
    stream (its methods replace these), so a WebSocket reads the socket
    directly."""

    def __init__(self, stream):
        self.stream = stream
        self.chunks = []   # what was read, until parse() joins it
        self.data = b''
        self.size = 0   # bytes read
        self.end = 0    # where the head ends, once known
        self.host = None
        self.version = None
        self.length = 0   # Content-Length
        self.pos = 0    # what Microdot has read of data
        if not hasattr(stream, 'readinto'):
            self.readinto = None   # CPython's streams have no readinto()

    async def fill(self, n=_CHUNK):
        """Read up to ``n`` more bytes (one read)."""
        data = await self.stream.read(n)
        if not data:
            raise EOFError
        self.chunks.append(data)
        self.size += len(data)

    async def read_head(self, max_headers, max_length):
        """Read up to the empty line that ends the head; return 0 or an
        error status. Each chunk read is looked at once."""
        limit = Request.max_readline
        n = 0       # bytes of the current line so far
        first = 0   # its first byte
        lines = 0   # lines before it
        base = 0    # where the chunk starts in the request
        k = 0
        while True:
            chunk = self.chunks[k]
            i = 0
            while True:
                j = chunk.find(b'\n', i)
                m = (len(chunk) if j < 0 else j) - i
                if m and not n:
                    first = chunk[i]
                n += m
                if n > limit:
                    return 431 if lines else 414
                if j < 0:
                    break
                if n == 0 or n == 1 and first == 13:   # '' or '\r'
                    self.end = base + j + 1
                    return 431 if max_length and self.end > max_length \
                        else 0
                lines += 1
                if max_headers and lines > max_headers + 1:
                    return 431
                n = 0
                i = j + 1
            base += len(chunk)
            if max_length and base > max_length:
                return 431
            k += 1
            if k == len(self.chunks):
                await self.fill()

    def parse(self):
        """Check the request line and find the headers the server needs;
        return 0 or ``400``."""
        self._join()
        lines = self.data[:self.end].split(b'\n')
        try:
            method, url, version = lines[0].decode().split()
            protocol, self.version = version.split('/')
            if protocol != 'HTTP':
                return 400
            for line in lines[1:-2]:
                name, value = line.decode().split(':', 1)
                name = name.strip().lower()
                if name == 'host':
                    if self.host is not None:
                        return 400   # two Host headers (RFC 9112 3.2)
                    self.host = value.strip()
                elif name == 'content-length':
                    self.length = int(value)
        except (ValueError, UnicodeError):
            return 400
        if self.host is None and self.version != '1.0' or \
                self.host is not None and _host_name(self.host) is None:
            return 400   # a missing or bad Host (RFC 9112 3.2)
        return 0

    async def read_body(self, max_length):
        """Read the part of a small body not read yet."""
        if self.length <= max_length:
            while self.size < self.end + self.length:
                await self.fill(self.end + self.length - self.size)
            self._join()

    def _join(self):
        if len(self.chunks) > 1:
            self.chunks = [b''.join(self.chunks)]
        self.data = self.chunks[0]

    # The stream interface Microdot's parser, a route and a WebSocket use.

    def _take(self, n):
        """Up to ``n`` bytes of what was read ahead (all: -1)."""
        pos = self.pos
        data = self.data
        end = len(data) if n < 0 else min(len(data), pos + n)
        self.pos = end
        if end == len(data):
            self._detach()
        return data[pos:end] if pos or end < len(data) else data

    def _detach(self):
        """Send every later call to the socket's stream."""
        stream = self.stream
        self.data = b''
        self.readline = stream.readline
        self.read = stream.read
        self.readexactly = stream.readexactly
        if self.readinto is not None:
            self.readinto = stream.readinto

    async def readline(self):
        i = self.data.find(b'\n', self.pos)
        if i >= 0:
            return self._take(i + 1 - self.pos)
        rest = self._take(-1)
        return rest + await self.stream.readline()

    async def read(self, n=-1):
        if n < 0:
            return self._take(-1) + await self.stream.read()
        return self._take(n)

    async def readexactly(self, n):
        data = self._take(n)
        if len(data) < n:
            data += await self.stream.readexactly(n - len(data))
        return data

    async def readinto(self, buf):
        data = self._take(len(buf))
        buf[:len(data)] = data
        return len(data)


async def _reply(writer, status):
    """Answer ``status`` with a short response and close the connection
    (``-1``: just close it)."""
    try:
        if status > 0:
            reason = _REASONS[status]
            await writer.awrite(
                b'HTTP/1.0 ' + str(status).encode() + b' ' + reason +
                b'\r\nContent-Type: text/plain\r\nContent-Length: ' +
                str(len(reason)).encode() +
                b'\r\nConnection: close\r\n\r\n' + reason)
    except OSError:
        pass
    try:
        await writer.aclose()
    except OSError:
        pass


def _host_name(host):
    """The name in a ``Host`` header: lower case, without the port and a
    final dot; ``None`` if malformed."""
    host = host.lower()
    if host.startswith('['):
        i = host.find(']')
        if i < 0 or host[i + 1:] and not _is_port(host[i + 1:]):
            return None
        return host[:i + 1]
    name, colon, port = host.rpartition(':')
    if not colon:
        name = port
    elif not _is_port(colon + port):
        return None
    if name.endswith('.'):
        name = name[:-1]
    return name or None


def _is_port(s):
    return len(s) > 1 and s[0] == ':' and s[1:].isdigit()


def _is_ipv4(name):
    parts = name.split('.')
    if len(parts) != 4:
        return False
    for p in parts:
        if not p.isdigit() or len(p) > 3 or int(p) > 255:
            return False
    return True


def _own_names():
    """``localhost`` and the board's host name, with and without .local."""
    try:
        import network
        name = network.hostname().lower()
        return ('localhost', name, name + '.local')
    except (ImportError, AttributeError, OSError):
        return ('localhost',)
