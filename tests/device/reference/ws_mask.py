"""CPython reference for the ws_mask API: the oracle of tests/device.

The host runs every tests/device script under CPython with this folder
first on ``sys.path``, so that ``import ws_mask`` and
``from microdot import _ws_mask`` both load this module; what the script
prints then is the expected output of the same script on a device.

Nothing here is shared with usermod/ws_mask or frozen/microdot/_ws_mask.py:
masking is one big-integer XOR, headers go through :mod:`struct` as laid out
in RFC 6455 section 5.2, and UTF-8 is CPython's own strict decoder, with
the set of valid code point prefixes taken from CPython's encoder.
"""
import codecs
import struct

_RESERVED_OPCODES = (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)


def _span(n, start, end):
    end = n if end is None else end
    if not 0 <= start <= end <= n:
        raise ValueError('start/end out of range')
    return end


def _bytes(buf, start, end):
    view = memoryview(buf).cast('B')
    return view[start:_span(len(view), start, end)]


def mask(buf, key, offset=0, start=0, end=None):
    view = memoryview(buf)
    if view.readonly:
        raise TypeError('buffer is read-only')
    key = bytes(key)
    if len(key) != 4:
        raise ValueError('key must be 4 bytes')
    if not 0 <= offset <= 3:
        raise ValueError('offset must be 0-3')
    view = _bytes(buf, start, end)
    n = len(view)
    stream = (key * (n // 4 + 2))[offset:offset + n]
    value = int.from_bytes(view, 'big') ^ int.from_bytes(stream, 'big')
    view[:] = value.to_bytes(n, 'big')
    return (offset + n) & 3


def _check(fin, opcode, length):
    if opcode in _RESERVED_OPCODES:
        raise ValueError('reserved opcode')
    if opcode >= 8 and not fin:
        raise ValueError('fragmented control frame')
    if opcode >= 8 and length > 125:
        raise ValueError('control frame too long')
    if length >> 63:
        raise ValueError('length too large')


def parse_header(buf, start=0, end=None):
    # A rule is reported as soon as the bytes present break it: the first
    # byte alone can show a reserved bit, a reserved opcode or a fragmented
    # control frame; the second a control frame's length over 125.
    data = bytes(_bytes(buf, start, end))
    if not data:
        return None
    if data[0] & 0x70:
        raise ValueError('reserved bit set')
    fin = bool(data[0] & 0x80)
    opcode = data[0] & 0x0F
    _check(fin, opcode, 0)
    if len(data) < 2:
        return None
    masked = bool(data[1] & 0x80)
    length = data[1] & 0x7F
    _check(fin, opcode, length)
    size = 2
    if length == 126:
        size = 4
        if len(data) < size:
            return None
        length, = struct.unpack('!H', data[2:4])
    elif length == 127:
        size = 10
        if len(data) < size:
            return None
        length, = struct.unpack('!Q', data[2:10])
    _check(fin, opcode, length)
    if masked:
        size += 4
    if len(data) < size:
        return None
    return (fin, opcode, masked, length, size)


def header(buf, start=0, end=None):
    fields = parse_header(buf, start, end)
    if fields is None:
        return 0
    fin, opcode, masked, length, size = fields
    return length * 1024 + masked * 512 + fin * 256 + size * 16 + opcode


def build_header(buf, opcode, length, fin=True, key=None):
    # Checked in the documented order: opcode and length ranges, the key,
    # the RFC's rules, then the room in the buffer.
    view = memoryview(buf)
    if view.readonly:
        raise TypeError('buffer is read-only')
    if not 0 <= opcode <= 15 or length < 0 or length >> 64:
        raise ValueError('bad opcode or length')
    if key is not None:
        key = bytes(key)
        if len(key) != 4:
            raise ValueError('key must be 4 bytes')
    _check(fin, opcode, length)
    first = (0x80 if fin else 0) | opcode
    bit = 0x80 if key is not None else 0
    if length < 126:
        header = struct.pack('!BB', first, bit | length)
    elif length < 0x10000:
        header = struct.pack('!BBH', first, bit | 126, length)
    else:
        header = struct.pack('!BBQ', first, bit | 127, length)
    if key is not None:
        header += key
    view = view.cast('B')
    if len(view) < len(header):
        raise ValueError('buffer too small')
    view[:len(header)] = header
    return len(header)


_prefixes = None


def _valid_prefixes():
    # Every proper prefix of the encoding of every code point: a pending
    # tail outside this set can never be completed.
    global _prefixes
    if _prefixes is None:
        found = set()
        for cp in range(0x80, 0x110000):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            enc = chr(cp).encode('utf-8')
            for n in range(1, len(enc)):
                found.add(enc[:n])
        _prefixes = found
    return _prefixes


def utf8_validate(buf, state=0, start=0, end=None):
    # The state is the pending tail of an incomplete code point, as an int
    # (with a leading 1 byte so that it is positive).
    if state < 0:
        raise ValueError('invalid state')
    pending = state.to_bytes(4, 'big').lstrip(b'\0')[1:] if state else b''
    decoder = codecs.getincrementaldecoder('utf-8')()
    try:
        decoder.decode(pending + bytes(_bytes(buf, start, end)), False)
    except UnicodeDecodeError:
        return -1
    tail = decoder.getstate()[0]
    if not tail:
        return 0
    if tail not in _valid_prefixes():
        return -1
    return int.from_bytes(b'\1' + tail, 'big')


def _text(data):
    try:
        return codecs.decode(bytes(data), 'utf-8')
    except UnicodeDecodeError:
        raise ValueError('invalid utf-8')


def copy(buf, start=0, end=None, type=bytes):
    data = bytes(_bytes(buf, start, end))
    if type is str:
        return _text(data)
    if type is bytes or type is bytearray:
        return type(data)
    raise TypeError('bad type')


class Payload(bytearray):
    """A bytearray that validates as CPython decodes: all at once."""

    def __init__(self, size):
        if size < 0:
            raise ValueError('negative size')
        super().__init__(size)
        self.checked = 0
        self.bad = False
        self.taken = False

    def _live(self):
        if self.taken:
            raise ValueError('taken')

    def view(self, start=0, end=None):
        self._live()
        return memoryview(self)[start:_span(len(self), start, end)]

    def grow(self, size, limit=0):
        self._live()
        if size < len(self) or limit < 0:
            raise ValueError('cannot grow')
        self.extend(bytes(size - len(self)))

    def append(self, buf, start=0, end=None, limit=0):
        self._live()
        if limit < 0:
            raise ValueError('negative limit')
        self.extend(bytes(_bytes(buf, start, end)))

    def utf8_validate(self, end=None):
        self._live()
        end = _span(len(self), self.checked, end)
        self.checked = end
        # The verdict on everything up to `end`, as CPython reads it.
        state = utf8_validate(self, 0, 0, end)
        self.bad = self.bad or state < 0
        return -1 if self.bad else state

    def take(self, type=bytes):
        self._live()
        if type is str:
            if self.bad:
                raise ValueError('invalid utf-8')
            data = _text(self)
        elif type is bytes or type is bytearray:
            data = type(self)
        else:
            raise TypeError('bad type')
        self[:] = b''
        self.taken = True
        return data
