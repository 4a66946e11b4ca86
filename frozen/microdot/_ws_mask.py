"""Pure-Python twin of the ``ws_mask`` C module.

The same functions and :class:`Payload` type, with the same semantics and
error messages as ``usermod/ws_mask``, for firmware without the C module
and for CPython::

    try:
        import ws_mask
    except ImportError:
        from microdot import _ws_mask as ws_mask

:func:`mask` XORs through big integers (``int.from_bytes``), or with a
``@micropython.viper`` word loop where the firmware can compile viper code.
Unlike the C module it allocates memory, and :class:`Payload` copies.
"""
import sys

# Strict UTF-8 decoder states (RFC 3629), shared with ws_core.c: 0 is a code
# point boundary; states 1-7 say what the next byte must be.
_ACCEPT = 0
_REJECT = -1
_STATES = 8

# State after each byte when at a boundary: 0 for ASCII, 1-7 for a lead
# byte, 0xff for a byte that cannot start a sequence (continuation bytes,
# the overlong leads C0 C1, and F5-FF beyond U+10FFFF).
_LEAD = (bytes(0x80) + b'\xff' * 66       # 00-7f, 80-c1
         + b'\x01' * 30                   # c2-df: 1 continuation
         + b'\x04'                        # e0: a0-bf, then 1 (no overlongs)
         + b'\x02' * 12                   # e1-ec: 2 continuations
         + b'\x05'                        # ed: 80-9f, then 1 (no surrogates)
         + b'\x02' * 2                    # ee-ef: 2 continuations
         + b'\x06'                        # f0: 90-bf, then 2 (no overlongs)
         + b'\x03' * 3                    # f1-f3: 3 continuations
         + b'\x07'                        # f4: 80-8f, then 2 (<= U+10FFFF)
         + b'\xff' * 11)                  # f5-ff
# Allowed range of the next byte and the state after it, by state.
_LO = b'\x00\x80\x80\x80\xa0\x80\x90\x80'
_HI = b'\x00\xbf\xbf\xbf\xbf\x9f\xbf\x8f'
_NEXT = b'\x00\x00\x01\x02\x01\x01\x02\x02'
_TABLES = _LEAD + _LO + _HI + _NEXT

# Where the firmware can compile viper code, these loops run as machine code.
# The source is compiled at import time, so that this module still imports
# on CPython and on ports without a native emitter (a failure to compile
# leaves the pure-Python code in charge). The word loop assumes a
# little-endian CPU, as every MicroPython native emitter targets one.
_VIPER = '''
@micropython.viper
def mask(buf, n, key, offset):
    p = ptr8(buf)
    k = ptr8(key)
    nn = int(n)
    o = int(offset)
    i = 0
    a = uint(p)
    while i < nn and (a + uint(i)) & 3:
        p[i] = p[i] ^ k[o & 3]
        o += 1
        i += 1
    kw = (uint(k[o & 3]) | uint(k[(o + 1) & 3]) << 8
          | uint(k[(o + 2) & 3]) << 16 | uint(k[(o + 3) & 3]) << 24)
    w = ptr32(a + uint(i))
    nw = (nn - i) >> 2
    j = 0
    while j < nw:
        w[j] = w[j] ^ kw
        j += 1
    i += nw << 2
    while i < nn:
        p[i] = p[i] ^ k[o & 3]
        o += 1
        i += 1


@micropython.viper
def utf8(buf, n, state, tables) -> int:
    p = ptr8(buf)
    t = ptr8(tables)
    nn = int(n)
    s = int(state)
    i = 0
    while i < nn:
        b = p[i]
        i += 1
        if s == 0:
            if b >= 0x80:
                s = t[b]
                if s == 0xff:
                    return -1
        elif b < t[256 + s] or b > t[264 + s]:
            return -1
        else:
            s = t[272 + s]
    return s
'''

_viper_mask = _viper_utf8 = None
if sys.byteorder == 'little':
    try:
        _ns = {}
        exec(_VIPER, _ns)
        _viper_mask = _ns['mask']
        _viper_utf8 = _ns['utf8']
        del _ns
    except Exception:
        pass


def _writable(buf):
    """Return a memoryview of ``buf``; TypeError if it is read-only."""
    mv = memoryview(buf)
    mv[0:0] = mv[0:0]   # TypeError for bytes and read-only views
    return mv


def _nbytes(buf, mv):
    """Size of ``buf`` in bytes, whatever its item size."""
    if type(buf) is bytearray:
        return len(buf)
    try:
        return mv.nbytes   # CPython
    except AttributeError:
        pass
    n = len(mv)
    return n * len(bytes(mv[:1])) if n else 0


def _bytes_view(buf, mv, n):
    """A writable memoryview of the ``n`` bytes of ``buf``."""
    try:
        return mv.cast('B')   # CPython
    except AttributeError:
        pass
    if len(mv) == n:
        return mv
    import uctypes
    return memoryview(uctypes.bytearray_at(uctypes.addressof(buf), n))


def byteview(obj):
    """``obj`` if its items are bytes, else a memoryview of its bytes.

    ``len()`` of a memoryview or an array counts items, and its slices are
    made of items. The view points into ``obj``'s buffer: keep ``obj``
    referenced while the view is in use (the collector may not see the
    view's pointer).
    """
    if type(obj) is bytes or type(obj) is bytearray:
        return obj
    mv = memoryview(obj)
    n = _nbytes(obj, mv)
    if n == len(mv):
        return obj
    try:
        return mv.cast('B')   # CPython
    except AttributeError:
        import uctypes
        return memoryview(uctypes.bytearray_at(uctypes.addressof(obj), n))


def _key(key):
    if len(key) != 4:
        raise ValueError('key must be 4 bytes')
    return key


def _end(n, start, end):
    """``end`` of ``buf[start:end]`` in a buffer of ``n`` bytes."""
    if end is None:
        end = n
    if not 0 <= start <= end <= n:
        raise ValueError('start/end out of range')
    return end


def mask(buf, key, offset=0, start=0, end=None):
    """XOR ``buf`` in place with a 4-byte masking key (RFC 6455 5.3).

    :param buf: a writable buffer (``bytearray``, ``memoryview``, ``array``).
    :param key: the 4-byte masking key.
    :param offset: the index in ``key`` of the byte that masks
                   ``buf[start]``, so that a payload can be unmasked in
                   pieces.
    :param start: where the bytes to mask start in ``buf``.
    :param end: where they end (``None``: at the end of ``buf``); offsets
                count bytes, whatever the item size of ``buf``.
    :returns: the offset for the byte after them,
              ``(offset + end - start) & 3``.

    Example::

        phase = mask(payload, key, 0, 0, 1000)
        mask(payload, key, phase, 1000)
    """
    mv = _writable(buf)
    _key(key)
    if offset not in (0, 1, 2, 3):
        raise ValueError('offset must be 0-3')
    n = _nbytes(buf, mv)
    if start or end is not None:
        end = _end(n, start, end)
        buf = mv = _bytes_view(buf, mv, n)[start:end]
        n = end - start
    if _viper_mask is not None:
        _viper_mask(buf, n, key, offset)
    elif n:
        view = _bytes_view(buf, mv, n)
        k = bytes(key)
        k = k[offset:] + k[:offset]
        # One big-int XOR: the key repeated over the buffer's length.
        keys = memoryview(k * ((n + 3) >> 2))[:n]
        x = int.from_bytes(view, 'little') ^ int.from_bytes(keys, 'little')
        view[:] = x.to_bytes(n, 'little')
    return (offset + n) & 3


def _narrow(buf, start, end):
    """``buf[start:end]``, bytes counted; ``buf`` itself for all of it."""
    if start or end is not None:
        mv = memoryview(buf)
        n = _nbytes(buf, mv)
        buf = _bytes_view(buf, mv, n)[start:_end(n, start, end)]
    return buf


def parse_header(buf, start=0, end=None):
    """Parse the WebSocket frame header at ``buf[start:end]``.

    :param buf: ``bytes``, ``bytearray`` or ``memoryview``; bytes after the
                header (the payload) are ignored.
    :param start: where the header starts in ``buf``.
    :param end: where the bytes received so far end (``None``: at the end
                of ``buf``).
    :returns: ``None`` if ``buf`` is shorter than the header (masking key
              included), else ``(fin, opcode, masked, length, header_len)``;
              the key is ``buf[header_len - 4:header_len]`` when masked.

    Raises ``ValueError`` as soon as the bytes present break a rule of
    RFC 6455 for an endpoint without extensions: an RSV bit set, a reserved
    opcode, a fragmented control frame, a control frame over 125 bytes, a
    64-bit length with its top bit set.
    """
    buf = _narrow(buf, start, end)
    n = len(buf)
    if n < 1:
        return None
    b = buf[0]
    if b & 0x70:
        raise ValueError('rsv bit set')
    opcode = b & 0x0f
    if 0x3 <= opcode <= 0x7 or opcode >= 0xb:
        raise ValueError('reserved opcode')
    fin = bool(b & 0x80)
    if opcode >= 0x8 and not fin:
        raise ValueError('fragmented control frame')
    if n < 2:
        return None
    b = buf[1]
    length = b & 0x7f
    if opcode >= 0x8 and length > 125:
        raise ValueError('control frame too long')
    header_len = 2
    if length == 126:
        if n < 4:
            return None
        length = buf[2] << 8 | buf[3]
        header_len = 4
    elif length == 127:
        if n < 10:
            return None
        length = int.from_bytes(bytes(buf[2:10]), 'big')
        if length >> 63:
            raise ValueError('length too large')
        header_len = 10
    # Non-minimal length encodings are accepted, as ws_core.c explains.
    masked = bool(b & 0x80)
    if masked:
        header_len += 4
    if n < header_len:
        return None
    return fin, opcode, masked, length, header_len


def header(buf, start=0, end=None):
    """Parse a frame header as :func:`parse_header` does, into one int.

    :returns: ``0`` if the header is incomplete, else an int whose bits 0-3
              are the opcode, bits 4-7 the header length, bit 8 (``0x100``)
              FIN, bit 9 (``0x200``) MASK, and bits 10 on the payload
              length: ``h & 15``, ``h >> 4 & 15``, ``h & 0x100``,
              ``h & 0x200``, ``h >> 10``. The C module allocates nothing
              for it below 2**20 bytes of payload on 32-bit ports.
    """
    h = parse_header(buf, start, end)
    if h is None:
        return 0
    fin, opcode, masked, length, header_len = h
    return length << 10 | masked << 9 | fin << 8 | header_len << 4 | opcode


def build_header(buf, opcode, length, fin=True, key=None):
    """Write a WebSocket frame header into ``buf``.

    :param buf: a writable buffer; 14 bytes always suffice.
    :param opcode: the frame's opcode.
    :param length: the payload length, with the shortest encoding.
    :param fin: the FIN bit.
    :param key: a 4-byte masking key: sets MASK and follows the length.
    :returns: the header length.

    Raises ``ValueError`` for a header that :func:`parse_header` would
    reject, and when ``buf`` is too small.
    """
    mv = _writable(buf)
    if not 0 <= opcode <= 0xf:
        raise ValueError('reserved opcode')
    if length < 0:
        raise ValueError('negative length')
    if length >> 64:
        raise ValueError('length too large')
    if key is not None:
        _key(key)
    if 0x3 <= opcode <= 0x7 or opcode >= 0xb:
        raise ValueError('reserved opcode')
    if opcode >= 0x8 and not fin:
        raise ValueError('fragmented control frame')
    if opcode >= 0x8 and length > 125:
        raise ValueError('control frame too long')
    if length >> 63:
        raise ValueError('length too large')
    extra = 8 if length > 0xffff else 2 if length > 125 else 0
    n = 2 + extra + (4 if key is not None else 0)
    size = _nbytes(buf, mv)
    if size < n:
        raise ValueError('buffer too small')
    header = bytearray(n)
    header[0] = (0x80 if fin else 0) | opcode
    header[1] = ((0x80 if key is not None else 0)
                 | (127 if extra == 8 else 126 if extra == 2 else length))
    if extra:
        header[2:2 + extra] = length.to_bytes(extra, 'big')
    if key is not None:
        header[2 + extra:] = bytes(key)
    _bytes_view(buf, mv, size)[:n] = header
    return n


def utf8_validate(buf, state=0, start=0, end=None):
    """Validate UTF-8 strictly (RFC 3629), possibly across several pieces.

    :param buf: the bytes to check (``bytes``, ``bytearray``,
                ``memoryview``).
    :param state: the state returned for the previous piece (0 to start).
    :param start: where the bytes to check start in ``buf``.
    :param end: where they end (``None``: at the end of ``buf``).
    :returns: 0 if ``buf`` ends on a complete code point, a positive state
              if it ends inside one, -1 as soon as a byte makes the text
              invalid (overlongs, surrogates, code points above U+10FFFF).
    """
    mv = memoryview(buf)   # a TypeError first, as in the C module
    if state not in range(_STATES):
        raise ValueError('invalid utf8 state')
    if start or end is not None:
        n = _nbytes(buf, mv)
        buf = mv = _bytes_view(buf, mv, n)[start:_end(n, start, end)]
    if _viper_utf8 is not None:
        return _viper_utf8(buf, _nbytes(buf, mv), state, _TABLES)
    lead = _LEAD
    for b in mv:
        if state == _ACCEPT:
            if b >= 0x80:
                state = lead[b]
                if state == 0xff:
                    return _REJECT
        elif _LO[state] <= b <= _HI[state]:
            state = _NEXT[state]
        else:
            return _REJECT
    return state


def _type(type):
    if type is not bytes and type is not str and type is not bytearray:
        raise TypeError('type must be bytes, str or bytearray')


def copy(buf, start=0, end=None, type=bytes):
    """A new ``bytes``, ``str`` or ``bytearray`` of ``buf[start:end]``.

    :param type: ``bytes``, ``bytearray``, or ``str``: the bytes are then
                 validated (strict UTF-8) and ``ValueError`` raised if they
                 are not valid.
    """
    mv = memoryview(buf)
    n = _nbytes(buf, mv)
    part = _bytes_view(buf, mv, n)[start:_end(n, start, end)]
    _type(type)
    if type is str:
        if utf8_validate(part):
            raise ValueError('invalid utf-8')
        return str(part, 'utf-8')
    return type(part)


class Payload(bytearray):
    """The buffer of one message's payload, taken as bytes, str or bytearray.

    :param size: its length, in bytes.

    A writable buffer of ``size`` bytes to read a payload into (see
    :meth:`view`), unmask with :func:`mask` and check with
    :meth:`utf8_validate`; :meth:`grow` lengthens it for the next fragment
    and :meth:`take` turns it into the message. The C module hands the
    buffer over without a copy; this twin is a ``bytearray`` and copies.
    On CPython, a memoryview of it still alive makes :meth:`grow` and
    :meth:`take` raise ``BufferError``: release views first.
    """

    _checked = 0   # bytes validated as UTF-8 so far
    _state = 0   # the validation state after them
    _taken = False

    def __init__(self, size):
        if size < 0:
            raise ValueError('negative size')
        super().__init__(size)

    def _check(self):
        if self._taken:
            raise ValueError('payload already taken')

    def view(self, start=0, end=None):
        """A memoryview of ``payload[start:end]``, e.g. to read into.

        The C module returns the same object every time (no allocation)
        and empties it on :meth:`grow` and :meth:`take`: use it before the
        next call.
        """
        self._check()
        return memoryview(self)[start:_end(len(self), start, end)]

    def grow(self, size, limit=0):
        """Lengthen the payload to ``size`` bytes, keeping its data.

        :param limit: the most the payload will ever hold, e.g. the message
                      limit; ``0`` for none. The C module allocates 1.25
                      times the room it had, up to ``limit``, so that a
                      message growing by fragments is copied O(n) times.

        The bytes added are undefined until written; memoryviews of the
        payload taken before are invalid afterwards.
        """
        self._check()
        n = len(self)
        if size < n:
            raise ValueError('cannot shrink')
        if limit < 0:
            raise ValueError('negative size')
        self.extend(bytes(size - n))

    def append(self, buf, start=0, end=None, limit=0):
        """Lengthen the payload by ``buf[start:end]`` and copy it in.

        :param limit: as for :meth:`grow`.

        A small fragment already unmasked in the receive buffer joins the
        message this way without a memoryview slice.
        """
        self._check()
        mv = memoryview(buf)
        n = _nbytes(buf, mv)
        part = bytes(_bytes_view(buf, mv, n)[start:_end(n, start, end)])
        del mv
        self.grow(len(self) + len(part), limit)
        self[len(self) - len(part):] = part

    def utf8_validate(self, end=None):
        """Validate ``payload[checked:end]`` as UTF-8, going on from the
        bytes the previous call checked; return the state as
        :func:`utf8_validate` does (``-1`` stays ``-1``).

        Bytes already checked are not checked again, by this or by
        :meth:`take`: unmask them first, and do not change them after.
        """
        self._check()
        start = self._checked
        end = _end(len(self), start, end)
        if self._state >= 0:
            self._state = utf8_validate(self, self._state, start, end)
        self._checked = end
        return self._state

    def take(self, type=bytes):
        """Return the payload as ``type``: ``bytes``, ``str`` or ``bytearray``.

        For ``str`` the bytes :meth:`utf8_validate` has not checked are
        checked now; ``ValueError`` if the text is not valid (the payload
        then stays as it was). Afterwards the payload is empty, and using
        it raises ``ValueError``.
        """
        self._check()
        _type(type)
        if type is str:
            self.utf8_validate()
            if self._state:
                raise ValueError('invalid utf-8')
            data = str(self, 'utf-8')
        else:
            data = type(self)
        self[:] = b''
        self._taken = True
        return data
