"""ws_mask: the C module and its pure-Python twin against the same vectors.

Vectors are generated here in CPython; a small driver runs each batch of
calls inside the unix firmware (or in this CPython process, for the twin
under CPython) and reports results, exceptions and the buffers afterwards.
Every result is checked against an oracle that does not share code with
either implementation: a byte-wise XOR reference, frames built and parsed by
``websockets`` and ``wsproto``, RFC 6455's header layout written out with
``struct``, and CPython's strict UTF-8 decoder.

As in websockets' ``SpeedupsTests(ApplyMaskTests)``, one class holds the
tests; each subclass plugs in one implementation:

* ``TestCModule``: ``ws_mask`` (usermod/ws_mask) in the firmware;
* ``TestTwinViper``: ``microdot._ws_mask`` with its viper loops;
* ``TestTwinBigInt``: the same module with viper switched off;
* ``TestTwinCPython``: ``frozen/microdot/_ws_mask.py`` under CPython.
"""
import contextlib
import functools
import hashlib
import importlib.util
import io
import itertools
import json
import math
import os
import random
import struct
import subprocess

import pytest
from websockets.exceptions import ProtocolError
from websockets.frames import Frame, Opcode
from wsproto.frame_protocol import FrameProtocol

from conftest import BUILD, ROOT, free_port

TWIN_PATH = os.path.join(ROOT, 'frozen', 'microdot', '_ws_mask.py')

# Runs in the firmware and in CPython: decodes a call's arguments, calls the
# implementation, reports what happened. Buffers over 1 KiB come back as a
# SHA-256 digest.
DRIVER = r'''
import binascii
import hashlib
import json
import sys
try:
    import array
except ImportError:
    array = None


def _hex(b):
    return binascii.hexlify(b).decode()


def _pattern(hexblock, n):
    block = binascii.unhexlify(hexblock)
    return bytearray((block * (n // len(block) + 1))[:n])


def decode(v, keep):
    if not isinstance(v, list):
        return v
    tag = v[0]
    if tag == 'b':
        return binascii.unhexlify(v[1])
    if tag == 'type':
        return TYPES[v[1]]
    if tag == 'arr':
        o = array.array(v[1], binascii.unhexlify(v[2]))
    elif tag in ('ba', 'mv'):
        o = bytearray(binascii.unhexlify(v[1]))
    else:  # 'pat', 'mvpat': a block repeated to a length
        o = _pattern(v[1], v[2])
    keep.append(o)
    if tag == 'mv':
        return memoryview(o)[v[2]:v[3]]
    if tag == 'mvpat':
        return memoryview(o)[v[3]:v[4]]
    return o


def digest(o):
    b = bytes(o)
    if len(b) > 1024:
        return 'sha256:' + _hex(hashlib.sha256(b).digest())
    return _hex(b)


TYPES = {'bytes': bytes, 'str': str, 'bytearray': bytearray, 'int': int}


def encode(r):
    if isinstance(r, tuple):
        return [encode(x) for x in r]
    if isinstance(r, str):
        return ['str', _hex(r.encode())]
    if isinstance(r, (bytes, bytearray)):
        return [type(r).__name__, _hex(r)]
    return r


def run(mod, call):
    name, args, kwargs = call
    keep = []
    args = [decode(a, keep) for a in args]
    kwargs = dict((k, decode(v, keep)) for k, v in kwargs.items())
    try:
        r = {'r': encode(getattr(mod, name)(*args, **kwargs))}
    except Exception as e:
        r = {'e': type(e).__name__, 'm': str(e)}
    r['bufs'] = [digest(o) for o in keep]
    return r


def load(kind):
    if kind == 'c':
        import ws_mask
        return ws_mask
    from microdot import _ws_mask
    if kind == 'bigint':
        _ws_mask._viper_mask = _ws_mask._viper_utf8 = None
    elif _ws_mask._viper_mask is None or _ws_mask._viper_utf8 is None:
        raise SystemExit('viper loops did not compile')
    return _ws_mask
'''

# The script that runs a JSON file of calls: driver.py KIND CALLS.json
DRIVER_MAIN = '''
mod = load(sys.argv[1])
with open(sys.argv[2]) as f:
    calls = json.load(f)
for c in calls:
    print(json.dumps(run(mod, c)))
'''

KEY = bytes.fromhex('37fa213d')
rng = random.Random(6455)


def rbytes(n):
    return rng.randbytes(n)


def ref_mask(data, key, offset=0):
    """The byte-wise reference: RFC 6455 5.3, j = i MOD 4."""
    return bytes(b ^ key[(i + offset) % 4] for i, b in enumerate(data))


def sha(data):
    if len(data) > 1024:
        return 'sha256:' + hashlib.sha256(data).hexdigest()
    return data.hex()


# --- argument encoders (see DRIVER.decode) ----------------------------------

def B(data):
    return ['b', bytes(data).hex()]


def BA(data):
    return ['ba', bytes(data).hex()]


def MV(data, start, stop):
    return ['mv', bytes(data).hex(), start, stop]


def ARR(typecode, data):
    return ['arr', typecode, bytes(data).hex()]


BLOCK = rbytes(251)   # prime length: never lines up with words


def PAT(n):
    return ['pat', BLOCK.hex(), n]


def pattern(n):
    return (BLOCK * (n // len(BLOCK) + 1))[:n]


def call(name, *args, **kwargs):
    return [name, list(args), kwargs]


def T(name):
    return ['type', name]


def typed(kind, data):
    """A bytes, bytearray or str result as the driver encodes it."""
    return [kind, bytes(data).hex()]


def pack(fin, opcode, masked, length, header_len):
    """header()'s int, from the layout its documentation gives."""
    return (length << 10 | (0x200 if masked else 0) | (0x100 if fin else 0)
            | header_len << 4 | opcode)


# --- oracles -----------------------------------------------------------------

# Continuation bytes at the edges of every range RFC 3629 allows after a
# lead byte (80-BF, A0-BF, 80-9F, 90-BF, 80-8F).
_EDGES = [bytes([b]) for b in (0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf)]


@functools.lru_cache(maxsize=None)
def utf8_can_complete(prefix):
    """Whether CPython's strict decoder accepts ``prefix`` plus some tail.

    A code point has at most 3 bytes after its lead, so tails of 0-3
    continuation bytes at the range edges decide it.
    """
    for n in range(4):
        for tail in itertools.product(_EDGES, repeat=n):
            try:
                (prefix + b''.join(tail)).decode('utf-8')
                return True
            except UnicodeDecodeError:
                pass
    return False


def utf8_oracle(data):
    """(expected result, first failing index) by CPython's strict decoder.

    0 if ``data`` is complete valid UTF-8; 'partial' if it is a valid prefix
    that ends inside a code point; -1 otherwise, with the index of the first
    byte after which no continuation could make it valid. (The decoder
    alone is not enough: CPython's incremental decoder accepts ED A0 as a
    prefix although no surrogate can follow.)
    """
    try:
        data.decode('utf-8')
        return 0, None
    except UnicodeDecodeError:
        pass
    for i in range(len(data)):
        if not utf8_can_complete(data[:i + 1]):
            return -1, i
    return 'partial', None


def ref_header(opcode, length, fin=True, key=None):
    """RFC 6455 5.2's header layout, shortest length encoding."""
    b0 = (0x80 if fin else 0) | opcode
    m = 0x80 if key is not None else 0
    if length <= 125:
        h = struct.pack('!BB', b0, m | length)
    elif length <= 0xffff:
        h = struct.pack('!BBH', b0, m | 126, length)
    else:
        h = struct.pack('!BBQ', b0, m | 127, length)
    return h + (key or b'')


def websockets_verdict(frame_bytes):
    """Parse a whole frame with websockets: a Frame, or 'error'."""
    masked = bool(frame_bytes[1] & 0x80)
    pos = 0

    def read_exact(n):
        nonlocal pos
        if pos + n > len(frame_bytes):
            raise EOFError
        pos += n
        return frame_bytes[pos - n:pos]
        yield  # a generator-based coroutine, as websockets expects

    gen = Frame.parse(read_exact, mask=masked, extensions=None)
    try:
        next(gen)
    except StopIteration as stop:
        return stop.value
    except ProtocolError:
        return 'error'
    raise AssertionError('websockets wanted more data')


# Each rule parse_header/build_header enforce, and the message naming it.
RULES = {
    'rsv': 'rsv bit set',
    'opcode': 'reserved opcode',
    'control_fin': 'fragmented control frame',
    'control_length': 'control frame too long',
    'length': 'length too large',
}


_RESERVED = (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)


def rule_broken(b0, b1, ext=b''):
    """The first rule a header breaks, straight from RFC 6455 5.2/5.5."""
    opcode = b0 & 0x0f
    if b0 & 0x70:
        return 'rsv'
    if opcode in _RESERVED:
        return 'opcode'
    if opcode >= 8 and not b0 & 0x80:
        return 'control_fin'
    if opcode >= 8 and b1 & 0x7f > 125:
        return 'control_length'
    if b1 & 0x7f == 127 and ext and ext[0] & 0x80:
        return 'length'
    return None


def ref_parse(data):
    """RFC 6455 5.2 read byte by byte, as parse_header() is documented.

    The fields as a list, None while the header is incomplete, or the name
    of the rule (see RULES) as soon as the bytes present break it.
    """
    if not data:
        return None
    fin, opcode = bool(data[0] & 0x80), data[0] & 0x0f
    if data[0] & 0x70:
        return 'rsv'
    if opcode in _RESERVED:
        return 'opcode'
    if opcode >= 8 and not fin:
        return 'control_fin'
    if len(data) < 2:
        return None
    masked, length = bool(data[1] & 0x80), data[1] & 0x7f
    if opcode >= 8 and length > 125:
        return 'control_length'
    ext = {126: 2, 127: 8}.get(length, 0)
    if len(data) < 2 + ext:
        return None
    if ext == 2:
        length, = struct.unpack('!H', data[2:4])
    elif ext == 8:
        length, = struct.unpack('!Q', data[2:10])
        if length >= 2 ** 63:
            return 'length'
    size = 2 + ext + (4 if masked else 0)
    if len(data) < size:
        return None
    return [fin, opcode, masked, length, size]


def ref_build_error(size, opcode, length, fin, key):
    """The ValueError build_header() is documented to raise, or None.

    The arguments are checked in order -- opcode range, length range, key,
    then the header against RFC 6455, then the room in the buffer -- and
    the first problem found is the error.
    """
    if not 0 <= opcode <= 15:
        return 'reserved opcode'
    if length < 0:
        return 'negative length'
    if length >= 2 ** 64:
        return 'length too large'
    if key is not None and len(key) != 4:
        return 'key must be 4 bytes'
    if opcode in _RESERVED:
        return 'reserved opcode'
    if opcode >= 8 and not fin:
        return 'fragmented control frame'
    if opcode >= 8 and length > 125:
        return 'control frame too long'
    if length >= 2 ** 63:
        return 'length too large'
    if size < len(ref_header(opcode, length, fin, key)):
        return 'buffer too small'
    return None


# --- the tests ---------------------------------------------------------------

class WsMaskContract:
    """The ws_mask API contract; subclasses say which implementation runs.

    ``kind``: 'c', 'viper' or 'bigint' (in the firmware) or 'cpython'.
    """

    kind = None

    @pytest.fixture(autouse=True)
    def _runner(self, request, tmp_path_factory):
        self.tmp = tmp_path_factory.mktemp('ws_mask')
        if self.kind == 'cpython':
            self.ns = {'__name__': 'driver'}
            exec(DRIVER, self.ns)
            spec = importlib.util.spec_from_file_location('_ws_mask',
                                                          TWIN_PATH)
            self.mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(self.mod)
        else:
            self.run_mpy = request.getfixturevalue('run_mpy')
            self.driver = self.tmp / 'driver.py'
            self.driver.write_text(DRIVER + DRIVER_MAIN)

    def run(self, calls):
        """Run calls in the implementation; return one result per call."""
        if self.kind == 'cpython':
            # Through JSON both ways, exactly as the firmware sees them.
            calls = json.loads(json.dumps(calls))
            return [json.loads(json.dumps(self.ns['run'](self.mod, c)))
                    for c in calls]
        path = self.tmp / 'calls.json'
        path.write_text(json.dumps(calls))
        r = self.run_mpy(script=str(self.driver),
                         args=[self.kind, str(path)],
                         firmware_args=['-X', 'heapsize=64M'], timeout=120)
        assert r.returncode == 0, r.stderr + r.stdout[-2000:]
        out = [json.loads(line) for line in r.stdout.splitlines()]
        assert len(out) == len(calls)
        return out

    def ok(self, result):
        assert 'e' not in result, result
        return result['r']

    def error(self, result, exc_type, message):
        assert result.get('e') == exc_type, result
        if message is not None:
            assert result['m'] == message, result

    # --- mask -----------------------------------------------------------

    def test_mask_matches_bytewise_reference(self):
        cases = []
        for n in range(301):
            for offset in range(4):
                data, key = rbytes(n), rbytes(4)
                cases.append((data, key, offset))
        calls = [call('mask', BA(d), B(k), o) for d, k, o in cases]
        for (d, k, o), res in zip(cases, self.run(calls)):
            assert self.ok(res) == (o + len(d)) % 4
            assert res['bufs'] == [ref_mask(d, k, o).hex()], (len(d), o)

    def test_mask_memoryview_slices_at_every_alignment(self):
        # A slice at start s of a fresh bytearray sits at every address
        # modulo 8; the bytes around the slice must not change.
        cases = []
        for start in range(8):
            for n in list(range(0, 40)) + [63, 64, 65, 127, 128, 129, 1000]:
                for offset in range(4):
                    whole = rbytes(start + n + 9)
                    cases.append((whole, start, n, offset))
        calls = [call('mask', MV(w, s, s + n), B(KEY), o)
                 for w, s, n, o in cases]
        for (w, s, n, o), res in zip(cases, self.run(calls)):
            assert self.ok(res) == (o + n) % 4
            expected = w[:s] + ref_mask(w[s:s + n], KEY, o) + w[s + n:]
            assert res['bufs'] == [sha(expected)], (s, n, o)

    def test_mask_large_buffers(self):
        cases = [(n, s, o) for n in (4095, 4096, 65536, 65536 + 5,
                                     (1 << 20) + 3)
                 for s, o in ((0, 0), (3, 1), (5, 2))]
        calls = [call('mask', ['mvpat', BLOCK.hex(), n + 8, s, s + n],
                      B(KEY), o)
                 for n, s, o in cases]
        for (n, s, o), res in zip(cases, self.run(calls)):
            assert self.ok(res) == (o + n) % 4
            whole = pattern(n + 8)
            expected = whole[:s] + ref_mask(whole[s:s + n], KEY, o) + \
                whole[s + n:]
            assert res['bufs'] == [sha(expected)], (n, s, o)

    def test_mask_in_pieces_keeps_the_key_phase(self):
        # Unmasking a payload as several reads: each call continues from
        # the phase the previous one returned.
        data = rbytes(1000)
        cuts = [0, 1, 2, 7, 8, 13, 100, 555, 556, 999, 1000]
        code = '''
mod = load({kind!r})
buf = bytearray({data!r})
phase = 0
cuts = {cuts!r}
for a, b in zip(cuts, cuts[1:]):
    phase = mod.mask(memoryview(buf)[a:b], {key!r}, phase)
print(phase, _hex(buf))
'''.format(kind=self.kind, data=data, cuts=cuts, key=KEY)
        out = self.exec_code(code)
        phase, hexbuf = out.split()
        assert int(phase) == len(data) % 4
        assert bytes.fromhex(hexbuf) == ref_mask(data, KEY)

    def exec_code(self, code):
        """Run a script with the driver's helpers in the implementation."""
        if self.kind == 'cpython':
            out = io.StringIO()
            ns = dict(self.ns, load=lambda kind: self.mod)
            with contextlib.redirect_stdout(out):
                exec(code, ns)
            return out.getvalue()
        path = self.tmp / 'code.py'
        path.write_text(DRIVER + code)
        r = self.run_mpy(script=str(path), timeout=120,
                         firmware_args=['-X', 'heapsize=64M'])
        assert r.returncode == 0, r.stderr
        return r.stdout

    def test_mask_buffer_types(self):
        data = rbytes(23)
        calls = [
            call('mask', BA(data), B(KEY)),
            call('mask', ARR('B', data), B(KEY), 3),
            call('mask', ARR('b', data), B(KEY), 2),
            call('mask', ARR('i', data[:20]), B(KEY), 1),
            call('mask', ARR('H', data[:22]), B(KEY), 0),
            call('mask', BA(data), BA(KEY), offset=2),
            call('mask', BA(data), MV(b'..' + KEY, 2, 6), 1),
            call('mask', buf=BA(data), key=B(KEY), offset=1),
        ]
        res = self.run(calls)
        assert self.ok(res[0]) == 23 % 4
        assert res[0]['bufs'] == [ref_mask(data, KEY).hex()]
        assert res[1]['bufs'] == [ref_mask(data, KEY, 3).hex()]
        assert res[2]['bufs'] == [ref_mask(data, KEY, 2).hex()]
        # Multi-byte items: masked as the bytes in memory; the returned
        # phase counts bytes.
        assert self.ok(res[3]) == (1 + 20) % 4
        assert res[3]['bufs'] == [ref_mask(data[:20], KEY, 1).hex()]
        assert self.ok(res[4]) == 22 % 4
        assert res[4]['bufs'] == [ref_mask(data[:22], KEY).hex()]
        for r, offset in zip(res[5:], (2, 1, 1)):
            assert self.ok(r) == (offset + 23) % 4
            assert r['bufs'][0] == ref_mask(data, KEY, offset).hex()

    def test_mask_errors(self):
        data = rbytes(10)
        calls = [
            call('mask', B(data), B(KEY)),           # read-only
            call('mask', B(b''), B(KEY)),            # read-only, empty
            call('mask', 'text', B(KEY)),            # str: read-only
            call('mask', 5, B(KEY)),                 # not a buffer
            call('mask', BA(data), B(KEY[:3])),
            call('mask', BA(data), B(KEY + b'x')),
            call('mask', BA(data), B(b'')),
            call('mask', BA(data), B(KEY), 4),
            call('mask', BA(data), B(KEY), -1),
            call('mask', BA(b''), B(KEY), 4),
        ]
        res = self.run(calls)
        for r in res[:4]:
            self.error(r, 'TypeError', None)
        for r in res[4:7]:
            self.error(r, 'ValueError', 'key must be 4 bytes')
        for r in res[7:]:
            self.error(r, 'ValueError', 'offset must be 0-3')
        # A failed call leaves the buffer alone.
        for r in res[4:9]:
            assert r['bufs'][0] == data.hex()

    # --- headers ---------------------------------------------------------

    LENGTHS = [0, 1, 124, 125, 126, 127, 1000, 65535, 65536, 65537,
               2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 62,
               2 ** 63 - 1]

    def header_cases(self):
        cases = []
        for opcode in (0x0, 0x1, 0x2, 0x8, 0x9, 0xa):
            for length in self.LENGTHS:
                if opcode >= 8 and length > 125:
                    continue
                for fin in (True, False):
                    if opcode >= 8 and not fin:
                        continue
                    for key in (None, rbytes(4)):
                        cases.append((opcode, length, fin, key))
        return cases

    def test_build_header_matches_rfc_layout(self):
        cases = self.header_cases()
        calls = []
        for opcode, length, fin, key in cases:
            kwargs = {'fin': fin}
            if key is not None:
                kwargs['key'] = B(key)
            calls.append(['build_header', [BA(bytes(14)), opcode, length],
                          kwargs])
        for (opcode, length, fin, key), res in zip(cases, self.run(calls)):
            expected = ref_header(opcode, length, fin, key)
            assert self.ok(res) == len(expected)
            assert res['bufs'][0] == (expected + bytes(14 - len(expected))
                                      ).hex()

    def test_build_header_matches_websockets_frames(self):
        # Whole frames from websockets; their header must equal ours.
        cases = []
        for opcode in (Opcode.CONT, Opcode.TEXT, Opcode.BINARY):
            for length in (0, 125, 126, 127, 65535, 65536):
                for fin in (True, False):
                    cases.append((opcode, length, fin))
        for opcode in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
            for length in (0, 2, 125):
                cases.append((opcode, length, True))
        calls, frames = [], []
        for opcode, length, fin in cases:
            payload = b'x' * length
            frame = Frame(opcode, payload, fin).serialize(mask=True)
            key = frame[-length - 4:len(frame) - length]
            frames.append((frame[:len(frame) - length],
                           Frame(opcode, payload, fin).serialize(mask=False)))
            calls.append(call('build_header', BA(bytes(14)), int(opcode),
                              length, fin=fin, key=B(key)))
            calls.append(call('build_header', BA(bytes(14)), int(opcode),
                              length, fin=fin))
        res = self.run(calls)
        for i, (masked_hdr, plain_frame) in enumerate(frames):
            length = cases[i][1]
            plain_hdr = plain_frame[:len(plain_frame) - length]
            assert self.ok(res[2 * i]) == len(masked_hdr)
            assert bytes.fromhex(res[2 * i]['bufs'][0])[:len(masked_hdr)] \
                == masked_hdr
            assert self.ok(res[2 * i + 1]) == len(plain_hdr)
            assert bytes.fromhex(res[2 * i + 1]['bufs'][0])[
                :len(plain_hdr)] == plain_hdr

    def test_parse_header_round_trip_and_every_truncation(self):
        cases = self.header_cases()
        calls, expect = [], []
        for opcode, length, fin, key in cases:
            h = ref_header(opcode, length, fin, key)
            want = [fin, opcode, key is not None, length, len(h)]
            for i in range(len(h)):
                calls.append(call('parse_header', B(h[:i])))
                expect.append(None)
            calls.append(call('parse_header', B(h)))
            expect.append(want)
            # Payload after the header is ignored; a bytearray and a
            # memoryview slice work as well.
            calls.append(call('parse_header', BA(h + b'payload')))
            expect.append(want)
            calls.append(call('parse_header', MV(b'..' + h + b'..', 2,
                                                 len(h) + 4)))
            expect.append(want)
        for want, res in zip(expect, self.run(calls)):
            assert self.ok(res) == want
        # header(): the same fields in one int, 0 for every truncation.
        calls = [[('header' if name == 'parse_header' else name), a, k]
                 for name, a, k in calls]
        for want, res in zip(expect, self.run(calls)):
            assert self.ok(res) == (0 if want is None else pack(*want))

    def test_parse_frames_from_websockets_and_wsproto(self):
        # Masked client frames and unmasked server frames of independent
        # libraries: parse the header, unmask the payload with mask().
        frames = []
        client = FrameProtocol(client=True, extensions=[])
        server = FrameProtocol(client=False, extensions=[])
        for n in (0, 1, 5, 125, 126, 127, 300, 65535, 65536, 70000):
            payload = rbytes(n)
            # A fragmented client message, and a server frame.
            frames.append((bytes(client.send_data(payload, fin=False)),
                           2, False, payload))
            frames.append((bytes(client.send_data(payload, fin=True)),
                           0, True, payload))
            frames.append((bytes(server.send_data(payload, fin=True)),
                           2, True, payload))
        text = 'Grüße, 世界 🎥' * 20
        frames.append((bytes(client.send_data(text, fin=True)), 1, True,
                       text.encode()))
        frames.append((bytes(client.ping(b'ping!')), 9, True, b'ping!'))
        frames.append((bytes(server.pong(b'')), 10, True, b''))
        close = bytes(client.close(1001, 'going away'))
        frames.append((close, 8, True, struct.pack('!H', 1001) +
                       b'going away'))
        for n in (0, 3, 126, 65536):
            for opcode in (Opcode.TEXT, Opcode.BINARY):
                payload = b'a' * n
                for m in (True, False):
                    frames.append((Frame(opcode, payload).serialize(mask=m),
                                   int(opcode), True, payload))
        calls = [call('parse_header', B(f)) for f, _, _, _ in frames]
        parsed = [self.ok(r) for r in self.run(calls)]
        calls = []
        for (f, opcode, fin, payload), p in zip(frames, parsed):
            p_fin, p_opcode, masked, length, hlen = p
            assert (p_fin, p_opcode, length) == (fin, opcode, len(payload))
            assert hlen + length == len(f)
            assert masked == bool(f[1] & 0x80)
            if masked:
                key = f[hlen - 4:hlen]
                calls.append(call('mask', BA(f[hlen:]), B(key)))
            else:
                assert f[hlen:] == payload
        payloads = [f[3] for f, p in zip(frames, parsed) if p[2]]
        assert len(payloads) > 20
        for payload, r in zip(payloads, self.run(calls)):
            assert r['bufs'] == [sha(payload)]

    def test_parse_header_rules_agree_with_websockets(self):
        # Every first byte with a range of second bytes: ws_mask rejects
        # exactly the headers websockets rejects, naming the RFC rule.
        cases = []
        for b0 in range(256):
            for b1 in (0, 5, 125, 126, 127):
                for m in (0, 0x80):
                    if b1 == 126:
                        ext = b'\x00\x80'
                    elif b1 == 127:
                        ext = bytes(6) + b'\x01\x00'
                    else:
                        ext = b''
                    h = bytes([b0, b1 | m]) + ext + (KEY if m else b'')
                    length = struct.unpack('!Q', bytes(8 - len(ext)) +
                                           ext)[0] if ext else b1
                    cases.append((h, h + rbytes(length), b0, b1))
        calls = [call(name, B(h)) for h, _, _, _ in cases
                 for name in ('parse_header', 'header')]
        res = iter(self.run(calls))
        for h, frame, b0, b1 in cases:
            verdict = websockets_verdict(frame)
            rule = rule_broken(b0, b1)
            parsed, packed = next(res), next(res)
            if verdict == 'error':
                assert rule is not None, h.hex()
                self.error(parsed, 'ValueError', RULES[rule])
                self.error(packed, 'ValueError', RULES[rule])
            else:
                assert rule is None
                want = [verdict.fin, int(verdict.opcode), bool(h[1] & 0x80),
                        len(verdict.data), len(h)]
                assert self.ok(parsed) == want
                assert self.ok(packed) == pack(*want)

    def test_parse_header_errors_as_soon_as_the_bytes_prove_them(self):
        top = b'\x82\x7f\x80' + bytes(7)
        calls = [
            call('parse_header', B(b'\xc1')),           # RSV1, 1 byte
            call('parse_header', B(b'\x83')),           # opcode 3
            call('parse_header', B(b'\x8f\x00')),       # opcode 0xF
            call('parse_header', B(b'\x09')),           # ping, FIN clear
            call('parse_header', B(b'\x88\x7e')),       # close, len 126
            call('parse_header', B(b'\x89\xfe\x00\x05')),
            call('parse_header', B(top)),               # 2**63
            call('parse_header', B(top + KEY)),
            call('parse_header', B(b'\xff\xff' + bytes(12))),
            call('parse_header', B(top[:9])),           # truncated: None
            call('parse_header', B(b'\x82\x7f' + b'\x7f' + b'\xff' * 7)),
            call('parse_header', B(b'\x81\x7e\x00\x05')),  # non-minimal
            call('parse_header', B(b'\x81\x7f' + bytes(7) + b'\x05')),
            call('parse_header', BA(b'\x80\x00')),      # cont, fin
            call('parse_header', 12),
        ]
        res = self.run(calls)
        self.error(res[0], 'ValueError', RULES['rsv'])
        self.error(res[1], 'ValueError', RULES['opcode'])
        self.error(res[2], 'ValueError', RULES['opcode'])
        self.error(res[3], 'ValueError', RULES['control_fin'])
        self.error(res[4], 'ValueError', RULES['control_length'])
        self.error(res[5], 'ValueError', RULES['control_length'])
        self.error(res[6], 'ValueError', RULES['length'])
        self.error(res[7], 'ValueError', RULES['length'])
        self.error(res[8], 'ValueError', RULES['rsv'])
        assert self.ok(res[9]) is None
        assert self.ok(res[10]) == [True, 2, False, 2 ** 63 - 1, 10]
        assert self.ok(res[11]) == [True, 1, False, 5, 4]
        assert self.ok(res[12]) == [True, 1, False, 5, 10]
        assert self.ok(res[13]) == [True, 0, False, 0, 2]
        self.error(res[14], 'TypeError', None)

    def test_build_header_errors(self):
        buf = BA(bytes(14))
        calls = [
            call('build_header', buf, 3, 0),
            call('build_header', buf, 0xb, 0),
            call('build_header', buf, 0xf, 0),
            call('build_header', buf, 16, 0),
            call('build_header', buf, -1, 0),
            call('build_header', buf, 0x9, 0, fin=False),
            call('build_header', buf, 0x8, 126),
            call('build_header', buf, 0xa, 2 ** 40),
            call('build_header', buf, 2, 2 ** 63),
            call('build_header', buf, 2, 2 ** 64),
            call('build_header', buf, 2, 2 ** 100),
            call('build_header', buf, 2, -1),
            call('build_header', buf, 2, -2 ** 70),
            call('build_header', buf, 2, 5, key=B(b'abc')),
            call('build_header', B(bytes(14)), 2, 5),
            call('build_header', BA(bytes(13)), 2, 2 ** 16, key=B(KEY)),
            call('build_header', BA(bytes(9)), 2, 2 ** 16),
            call('build_header', BA(bytes(1)), 2, 0),
            call('build_header', BA(bytes(2)), 2, 0),
            call('build_header', BA(bytes(10)), 2, 2 ** 16),
            call('build_header', buf, 2, 'ten'),
            call('build_header', buf, 2, 5, key=B(KEY), fin=False),
        ]
        res = self.run(calls)
        for r in res[:5]:
            self.error(r, 'ValueError', RULES['opcode'])
        self.error(res[5], 'ValueError', RULES['control_fin'])
        self.error(res[6], 'ValueError', RULES['control_length'])
        self.error(res[7], 'ValueError', RULES['control_length'])
        for r in res[8:11]:
            self.error(r, 'ValueError', RULES['length'])
        for r in res[11:13]:
            self.error(r, 'ValueError', 'negative length')
        self.error(res[13], 'ValueError', 'key must be 4 bytes')
        self.error(res[14], 'TypeError', None)
        for r in res[15:18]:
            self.error(r, 'ValueError', 'buffer too small')
        for r in res[:18]:
            # Nothing written on error.
            for buf in r['bufs']:
                assert set(bytes.fromhex(buf)) <= {0}
        assert self.ok(res[18]) == 2
        assert self.ok(res[19]) == 10
        self.error(res[20], 'TypeError', None)
        assert self.ok(res[21]) == 6
        assert res[21]['bufs'][0][:12] == (b'\x02\x85' + KEY).hex()

    # --- UTF-8 -----------------------------------------------------------

    UTF8_VALID = [
        b'', b'a', b'hello world', b'\x7f', b'\xc2\x80', b'\xdf\xbf',
        b'\xe0\xa0\x80', b'\xed\x9f\xbf', b'\xee\x80\x80', b'\xef\xbf\xbf',
        b'\xf0\x90\x80\x80', b'\xf4\x8f\xbf\xbf', b'\xf3\xbf\xbf\xbf',
        'κόσμε'.encode(), 'Grüße, 世界 🎥 \U0010ffff'.encode(),
        '\ufeff\ufffd\ufffe\uffff'.encode(),
    ]
    UTF8_INVALID = [
        b'\x80', b'\xbf', b'\xc0\x80', b'\xc1\xbf', b'\xe0\x80\x80',
        b'\xe0\x9f\xbf', b'\xf0\x80\x80\x80', b'\xf0\x8f\xbf\xbf',
        b'\xed\xa0\x80', b'\xed\xbf\xbf', b'\xed\xa0\x80\xed\xb0\x80',
        b'\xf4\x90\x80\x80', b'\xf5\x80\x80\x80', b'\xf7\xbf\xbf\xbf',
        b'\xf8\x88\x80\x80\x80', b'\xfc\x84\x80\x80\x80\x80', b'\xfe',
        b'\xff', b'\xc2\x41', b'\xe2\x82\x41', b'\xf0\x9f\x8e\x41',
        b'\xe2\x28\xa1', b'abc\xc3\x28def', b'\xce\xba\xe1\xbd\xb9\xcf\x83'
        b'\xce\xbc\xce\xb5\xed\xa0\x80edited', b'\xc2\xc2',
        b'\xe2\x82\xac\x80', b'\xf4\x8f\xbf\xbf\xbf',
    ]
    UTF8_PARTIAL = [
        b'\xc2', b'\xe0', b'\xe0\xa0', b'\xed', b'\xed\x9f', b'\xf0',
        b'\xf0\x90', b'\xf0\x90\x80', b'\xf4', b'\xf4\x8f\xbf',
        b'\xf1\x80\x80', 'héllo €'.encode()[:-1], b'abc\xe2\x82',
    ]

    def utf8_corpus(self):
        corpus = self.UTF8_VALID + self.UTF8_INVALID + self.UTF8_PARTIAL
        # Random sequences, mostly valid text with a corrupted byte.
        chars = 'aé€𝄞\x00\x7f\u07ff\u0800\ud7ff\ue000\U00010000\U0010ffff'
        for _ in range(150):
            s = ''.join(rng.choice(chars) for _ in range(rng.randint(1, 9)))
            b = bytearray(s.encode())
            if rng.random() < 0.6:
                b[rng.randrange(len(b))] = rng.getrandbits(8)
            if rng.random() < 0.3:
                b = b[:rng.randrange(len(b) + 1)]
            corpus.append(bytes(b))
        for _ in range(100):
            corpus.append(rbytes(rng.randint(1, 6)))
        return corpus

    def test_utf8_corpus_vs_cpython_decoder(self):
        corpus = self.utf8_corpus()
        # Sanity of the hand-written lists themselves.
        for b in self.UTF8_VALID:
            assert utf8_oracle(b)[0] == 0
        for b in self.UTF8_INVALID:
            assert utf8_oracle(b)[0] == -1
        for b in self.UTF8_PARTIAL:
            assert utf8_oracle(b)[0] == 'partial'
        calls = []
        for b in corpus:
            calls.append(call('utf8_validate', B(b)))
            # Every prefix: finds where it fails (fail fast).
            for i in range(len(b)):
                calls.append(call('utf8_validate', B(b[:i + 1])))
        res = iter(self.run(calls))
        for b in corpus:
            want, fail_at = utf8_oracle(b)
            got = self.ok(next(res))
            if want == 'partial':
                assert got > 0, b
            else:
                assert got == want, b
            for i in range(len(b)):
                got = self.ok(next(res))
                if fail_at is not None and i >= fail_at:
                    assert got == -1, (b, i)
                else:
                    assert got >= 0, (b, i)

    def test_utf8_split_at_every_position(self):
        corpus = self.utf8_corpus()
        calls = []
        for b in corpus:
            for k in range(len(b) + 1):
                calls.append(call('utf8_validate', B(b[:k])))
        first = [self.ok(r) for r in self.run(calls)]
        calls = []
        it = iter(first)
        for b in corpus:
            for k in range(len(b) + 1):
                s = next(it)
                if s >= 0:
                    calls.append(call('utf8_validate', B(b[k:]), s))
        second = iter(self.run(calls))
        it = iter(first)
        for b in corpus:
            want, _ = utf8_oracle(b)
            for k in range(len(b) + 1):
                s = next(it)
                got = self.ok(next(second)) if s >= 0 else -1
                if want == 'partial':
                    assert got > 0, (b, k)
                else:
                    assert got == want, (b, k)

    def test_utf8_ascii_runs_at_every_alignment(self):
        # The C code skips ASCII a word at a time: a bad or multi-byte
        # sequence at any position of any alignment must still be seen.
        cases = []
        for start in range(8):
            for pos in range(0, 41, 3):
                for tail in (b'\x80', b'\xed\xa0\x80', b'\xc3\xa9',
                             b'\xe2\x82'):
                    text = b'x' * pos + tail + b'y' * (40 - pos)
                    cases.append((start, text))
        calls = [call('utf8_validate', MV(b'.' * s + t, s, s + len(t)))
                 for s, t in cases]
        for (s, t), res in zip(cases, self.run(calls)):
            want, _ = utf8_oracle(t)
            got = self.ok(res)
            assert got == want if want != 'partial' else got > 0, (s, t)

    def test_utf8_large_and_arguments(self):
        text = ('Grüße, 世界 🎥 ' * 3000).encode()
        bad = bytearray(text)
        bad[-3] = 0xff
        calls = [
            call('utf8_validate', B(text)),
            call('utf8_validate', BA(bad)),
            call('utf8_validate', B(b'x' * 70000 + b'\xf0\x9f\x8e')),
            call('utf8_validate', B(b'\x80'), 1),
            call('utf8_validate', buf=B(b'\xbf'), state=1),
            call('utf8_validate', B(b'a'), 8),
            call('utf8_validate', B(b'a'), -1),
            call('utf8_validate', 12),
            call('utf8_validate', B(b'')),
            call('utf8_validate', B(b''), 5),
        ]
        res = self.run(calls)
        assert self.ok(res[0]) == 0
        assert self.ok(res[1]) == -1
        assert self.ok(res[2]) > 0
        assert self.ok(res[3]) == 0
        assert self.ok(res[4]) == 0
        self.error(res[5], 'ValueError', 'invalid utf8 state')
        self.error(res[6], 'ValueError', 'invalid utf8 state')
        self.error(res[7], 'TypeError', None)
        assert self.ok(res[8]) == 0
        assert self.ok(res[9]) == 5

    # --- the behaviours test_c_and_twin_agree_on_mixed_calls mixes, each
    # --- against an oracle ---------------------------------------------

    def test_mask_random_arguments_vs_reference(self):
        # Keys of 3 or 4 bytes, offsets -1 to 4: the byte-wise reference,
        # or the error for the first bad argument in the documented order
        # (buf, key, offset, start/end), the buffer left alone.
        cases = []
        for _ in range(400):
            data = rbytes(rng.randint(0, 20))
            key = rbytes(rng.choice((3, 4, 4, 4, 5)))
            offset = rng.randint(-1, 4)
            start = rng.choice((0, 0, 1, 3, 25))
            cases.append((data, key, offset, start))
        calls = [call('mask', BA(d), B(k), o, s) for d, k, o, s in cases]
        for (d, k, o, s), r in zip(cases, self.run(calls)):
            if len(k) != 4:
                self.error(r, 'ValueError', 'key must be 4 bytes')
            elif o not in range(4):
                self.error(r, 'ValueError', 'offset must be 0-3')
            elif s > len(d):
                self.error(r, 'ValueError', 'start/end out of range')
            else:
                assert self.ok(r) == (o + len(d) - s) % 4
                assert r['bufs'] == [(d[:s] + ref_mask(d[s:], k, o)).hex()]
                continue
            assert r['bufs'] == [d.hex()]

    def test_parse_header_random_bytes_vs_rfc_reference(self):
        # Random short byte strings, and strings shaped like headers (some
        # truncated, some with the length's top bit set): the fields, None
        # or the rule, by ref_parse().
        cases = [rbytes(rng.randint(0, 20)) for _ in range(600)]
        for _ in range(600):
            b0 = rng.choice((rng.getrandbits(8), 0x80 | rng.randrange(16),
                             rng.randrange(16)))
            b1 = rng.choice((rng.getrandbits(8), 0x7e, 0xfe, 0x7f, 0xff))
            rest = rbytes(rng.randint(0, 12))
            if rest and rng.random() < 0.3:
                rest = bytes([rest[0] | 0x80]) + rest[1:]
            cases.append(bytes([b0, b1]) + rest)
        calls = [call(name, B(d)) for d in cases
                 for name in ('parse_header', 'header')]
        res = iter(self.run(calls))
        seen = set()
        for d in cases:
            want = ref_parse(d)
            parsed, packed = next(res), next(res)
            if isinstance(want, str):
                self.error(parsed, 'ValueError', RULES[want])
                self.error(packed, 'ValueError', RULES[want])
            else:
                assert self.ok(parsed) == want, d.hex()
                assert self.ok(packed) == (0 if want is None
                                           else pack(*want)), d.hex()
            seen.add(want if want is None or isinstance(want, str)
                     else 'fields')
        # Every outcome occurs.
        assert seen == set(RULES) | {None, 'fields'}

    def test_build_header_random_arguments_vs_reference(self):
        # Random buffer sizes, opcodes, lengths, FIN bits and keys: the RFC
        # layout (ref_header) or the error ref_build_error() names.
        cases = []
        for _ in range(800):
            cases.append((rng.randint(0, 14), rng.randint(-1, 16),
                          rng.choice((0, 5, 125, 126, 2 ** 16, 2 ** 32,
                                      2 ** 63, 2 ** 64, -1)),
                          rng.random() < 0.8,
                          rng.choice((None, KEY, b'ab'))))
        calls = []
        for size, opcode, length, fin, key in cases:
            kwargs = {'fin': fin}
            if key is not None:
                kwargs['key'] = B(key)
            calls.append(['build_header',
                          [BA(b'\xa5' * size), opcode, length], kwargs])
        outcomes = set()
        res = self.run(calls)
        for (size, opcode, length, fin, key), r in zip(cases, res):
            err = ref_build_error(size, opcode, length, fin, key)
            if err is not None:
                self.error(r, 'ValueError', err)
                assert r['bufs'] == [(b'\xa5' * size).hex()]
            else:
                h = ref_header(opcode, length, fin, key)
                assert self.ok(r) == len(h)
                assert r['bufs'] == [(h + b'\xa5' * (size - len(h))).hex()]
            outcomes.add(err)
        assert len(outcomes) == 8   # every error, and success

    # Prefixes that end inside a code point, one per kind of lead byte in
    # RFC 3629's table and after one or two of its continuation bytes.
    UTF8_PREFIXES = [
        b'\xc2', b'\xdf', b'\xe0', b'\xe0\xa0', b'\xe1', b'\xec\x80',
        b'\xed', b'\xed\x9f', b'\xee', b'\xef\xbf', b'\xf0', b'\xf0\x90',
        b'\xf0\xbf\xbf', b'\xf1', b'\xf3\x80', b'\xf3\xbf\x80', b'\xf4',
        b'\xf4\x8f', b'\xf4\x80\xbf',
    ]

    def test_utf8_every_state_continues_like_its_prefix(self):
        # A state stands for the incomplete code point that led to it:
        # going on from it over some bytes gives the verdict of CPython's
        # decoder on prefix + bytes.
        tails = [b''] + [bytes(rng.choice(b'\x00\x41\x7f\x80\x8f\x90\x9f'
                                          b'\xa0\xbf\xc0\xc2\xe0\xed\xf0'
                                          b'\xf4\xff')
                               for _ in range(rng.randint(1, 5)))
                         for _ in range(60)]
        first = [self.ok(r) for r in self.run(
            [call('utf8_validate', B(p)) for p in self.UTF8_PREFIXES])]
        assert all(s > 0 for s in first)
        calls = [call('utf8_validate', B(t), s)
                 for s in first for t in tails]
        res = iter(self.run(calls))
        for p, s in zip(self.UTF8_PREFIXES, first):
            for t in tails:
                got = self.ok(next(res))
                want, fail_at = utf8_oracle(p + t)
                if want == 'partial':
                    assert got > 0, (p, t)
                else:
                    assert got == want, (p, t)
        # The prefixes reach every state there is but 0.
        assert sorted(set(first)) == list(range(1, 8))

    # --- start/end offsets -----------------------------------------------

    def test_offsets_mask_only_the_range(self):
        cases = []
        for n in (0, 1, 3, 4, 5, 8, 9, 17, 64, 131):
            for start in range(9):
                for offset in range(4):
                    whole = rbytes(start + n + 7)
                    cases.append((whole, start, start + n, offset))
        calls = [call('mask', BA(w), B(KEY), o, s, e) for w, s, e, o in cases]
        # end=None: to the end of the buffer; keywords work too.
        calls += [call('mask', BA(w), B(KEY), o, s) for w, s, e, o in cases]
        calls += [call('mask', buf=BA(w), key=B(KEY), offset=o, start=s,
                       end=e) for w, s, e, o in cases]
        res = self.run(calls)
        n = len(cases)
        for i, (w, s, e, o) in enumerate(cases):
            for r, stop in ((res[i], e), (res[n + i], len(w)),
                            (res[2 * n + i], e)):
                assert self.ok(r) == (o + stop - s) % 4
                expected = w[:s] + ref_mask(w[s:stop], KEY, o) + w[stop:]
                assert r['bufs'] == [sha(expected)], (s, stop, o)

    def test_offsets_count_bytes_in_wide_arrays(self):
        data = rbytes(40)
        calls = [call('mask', ARR('H', data), B(KEY), 1, 3, 29),
                 call('mask', ARR('i', data), B(KEY), 0, 5),
                 call('utf8_validate', ARR('H', b'ab\xc3\xa9' * 4), 0, 2, 4),
                 call('utf8_validate', ARR('H', b'ab\xc3\xa9' * 4), 0, 3, 8)]
        res = self.run(calls)
        assert self.ok(res[0]) == (1 + 26) % 4
        assert res[0]['bufs'] == [(data[:3] + ref_mask(data[3:29], KEY, 1)
                                   + data[29:]).hex()]
        assert self.ok(res[1]) == 35 % 4
        assert res[1]['bufs'] == [(data[:5] + ref_mask(data[5:], KEY)).hex()]
        assert self.ok(res[2]) == 0     # b'\xc3\xa9'
        assert self.ok(res[3]) == -1    # b'\xa9ab...': a lone continuation

    def test_offsets_utf8_validate_only_the_range(self):
        # Invalid bytes on both sides of the range must not count.
        corpus = self.UTF8_VALID + self.UTF8_INVALID + self.UTF8_PARTIAL
        calls, expect = [], []
        for i, text in enumerate(corpus):
            s = i % 9
            whole = b'\xff' * s + text + b'\x80\xff'
            calls.append(call('utf8_validate', B(whole), 0, s, s + len(text)))
            expect.append(utf8_oracle(text)[0])
            # A valid split at k, the second piece by offsets from its state.
            for k in range(len(text) + 1):
                if utf8_oracle(text[:k])[0] != -1:
                    calls.append(call('utf8_validate', B(whole), 0, s, s + k))
                    expect.append(('first', text, k))
        res = self.run(calls)
        second, index = [], []
        for want, r in zip(expect, res):
            got = self.ok(r)
            if isinstance(want, tuple):
                _, text, k = want
                s = corpus.index(text) % 9
                whole = b'\xff' * s + text + b'\x80\xff'
                assert got >= 0, (text, k)
                second.append(call('utf8_validate', B(whole), got, s + k,
                                   s + len(text)))
                index.append(text)
            elif want == 'partial':
                assert got > 0
            else:
                assert got == want
        for text, r in zip(index, self.run(second)):
            want = utf8_oracle(text)[0]
            got = self.ok(r)
            assert (got > 0) if want == 'partial' else (got == want), text

    def test_offsets_bound_parse_header_and_header(self):
        # The header at buf[start:end]: bytes after `end` are not looked
        # at, so a header cut by `end` is incomplete even when the buffer
        # goes on.
        calls, expect = [], []
        for i, (opcode, length, fin, key) in enumerate(self.header_cases()):
            h = ref_header(opcode, length, fin, key)
            want = [fin, opcode, key is not None, length, len(h)]
            s = i % 7
            whole = rbytes(s) + h + b'\x81' * 14
            for name, done in (('parse_header', want),
                               ('header', pack(*want))):
                calls.append(call(name, B(whole), s, s + len(h)))
                expect.append(done)
                calls.append(call(name, B(whole), s, s + len(h) - 1))
                expect.append(None if name == 'parse_header' else 0)
                calls.append(call(name, BA(whole), start=s))
                expect.append(done)
        for want, r in zip(expect, self.run(calls)):
            assert self.ok(r) == want

    def test_offsets_out_of_range(self):
        data = rbytes(10)
        bad = [(-1, None), (11, None), (6, 5), (0, 11), (0, -1), (-3, -1)]
        good = [(10, None), (10, 10), (0, 10), (0, 0), (4, 4)]
        calls = []
        for s, e in bad + good:
            calls += [call('mask', BA(data), B(KEY), 0, s, e),
                      call('utf8_validate', B(data[:1] * 10), 0, s, e),
                      call('parse_header', B(bytes(10)), s, e),
                      call('header', B(bytes(10)), s, e),
                      call('copy', B(data), s, e)]
        calls += [call('mask', BA(data), B(KEY), 0, 'a'),
                  call('mask', BA(data), B(KEY), 0, 0, 'b'),
                  call('copy', B(data), None)]
        res = self.run(calls)
        per = 5
        for i in range(len(bad)):
            for r in res[i * per:(i + 1) * per]:
                self.error(r, 'ValueError', 'start/end out of range')
            # A refused call leaves the buffer alone.
            assert res[i * per]['bufs'][0] == data.hex()
        for r in res[len(bad) * per:-3]:
            self.ok(r)
        for r in res[-3:]:
            self.error(r, 'TypeError', None)

    # --- copy --------------------------------------------------------------

    def test_copy_types_and_ranges(self):
        data = rbytes(300)
        cases = [(0, 300), (0, 0), (7, 8), (3, 261), (299, 300), (5, None)]
        calls = []
        for s, e in cases:
            calls += [call('copy', B(data), s, e),
                      call('copy', BA(data), s, e, T('bytearray')),
                      call('copy', MV(data, 0, 300), start=s, end=e),
                      call('copy', ARR('B', data), s, e, type=T('bytes'))]
        res = self.run(calls)
        for i, (s, e) in enumerate(cases):
            part = data[s:e]
            got = res[4 * i:4 * i + 4]
            assert self.ok(got[0]) == typed('bytes', part)
            assert self.ok(got[1]) == typed('bytearray', part)
            assert self.ok(got[2]) == typed('bytes', part)
            assert self.ok(got[3]) == typed('bytes', part)

    def test_copy_str_validates_like_cpython(self):
        corpus = self.UTF8_VALID + self.UTF8_INVALID + self.UTF8_PARTIAL
        calls = []
        for i, text in enumerate(corpus):
            s = i % 5
            calls.append(call('copy', B(b'\xff' * s + text + b'\xc3'),
                              s, s + len(text), T('str')))
        calls += [call('copy', B(b'abc'), 0, 3, T('int')),
                  call('copy', B(b'abc'), 0, 3, 'str'),
                  call('copy', B(b'abc'), type=T('str'))]
        res = self.run(calls)
        for text, r in zip(corpus, res):
            try:
                want = text.decode('utf-8')
            except UnicodeDecodeError:
                self.error(r, 'ValueError', 'invalid utf-8')
            else:
                assert self.ok(r) == typed('str', want.encode())
        for r in res[-3:-1]:
            self.error(r, 'TypeError', 'type must be bytes, str or bytearray')
        assert self.ok(res[-1]) == typed('str', b'abc')

    def test_copy_does_not_share_memory(self):
        out = self.exec_code('''
mod = load({kind!r})
buf = bytearray(b'abcdef')
b = mod.copy(buf, 1, 5)
a = mod.copy(buf, 1, 5, bytearray)
s = mod.copy(buf, 1, 5, str)
buf[2] = 0x5a
a[0] = 0x59
print(b, a, s, buf)
'''.format(kind=self.kind))
        assert out.split() == ["b'bcde'", "bytearray(b'Ycde')", 'bcde',
                               "bytearray(b'abZdef')"]

    # --- Payload -----------------------------------------------------------

    def run_lines(self, code, **fmt):
        """exec_code, each output line parsed as JSON."""
        out = self.exec_code(code.format(kind=self.kind, **fmt))
        return [json.loads(line) for line in out.splitlines()]

    def test_payload_read_in_pieces_unmasked_and_taken(self):
        # A masked payload read with a stream's readinto() into view()
        # pieces of every size, each unmasked as it arrives: take() gives
        # the payload; readinto() into the payload itself fills it whole.
        data = rbytes(1500)
        masked = ref_mask(data, KEY)
        cuts = [1, 2, 3, 4, 5, 7, 64, 100, 251, 1000, 1500]
        lines = self.run_lines('''
import io
mod = load({kind!r})
stream = io.BytesIO({masked!r})
p = mod.Payload({n})
got = phase = 0
for cut in {cuts!r}:
    n = stream.readinto(p.view(got, cut))
    phase = mod.mask(p, {key!r}, phase, got, got + n)
    got += n
print(json.dumps([len(p), got, phase, _hex(p.take())]))
q = mod.Payload(5)
print(json.dumps([io.BytesIO(b'hello, world').readinto(q), _hex(q.take())]))
''', masked=masked, n=len(data), cuts=cuts, key=KEY)
        assert lines[0] == [1500, 1500, 1500 % 4, data.hex()]
        assert lines[1] == [5, b'hello'.hex()]

    def test_payload_reassembles_fragments(self):
        # Fragments as a client sends them, each with its own key: grow()
        # for each, read it in, unmask it from key index 0.
        sizes = [0, 1, 125, 126, 3, 4096, 0, 65536, 7, 70000, 2]
        frags = [(rbytes(n), rbytes(4)) for n in sizes]
        total = sum(sizes)
        lines = self.run_lines('''
mod = load({kind!r})
frags = {frags!r}
for limit in (0, {total}, 100, 2 * {total}):
    p = mod.Payload(0)
    lengths = []
    for data, key in frags:
        start = len(p)
        p.grow(start + len(data), limit)
        lengths.append(len(p))
        # A view used and dropped at once, as a read does: on CPython
        # the twin cannot grow while a view of it is alive.
        p.view(start)[:] = data
        mod.mask(p, key, 0, start)
    b = p.take()
    print(json.dumps([lengths, len(b), digest(b)]))
''', frags=[(ref_mask(d, k), k) for d, k in frags], total=total)
        want = [list(itertools.accumulate(sizes)), total,
                sha(b''.join(d for d, _ in frags))]
        assert lines == [want] * 4

    def test_payload_append_fragments_from_a_buffer(self):
        # Small fragments arrive whole in the receive buffer: unmasked in
        # place there, then appended by offsets.
        sizes = [0, 1, 125, 7, 300, 0, 64]
        frags = [(rbytes(n), rbytes(4)) for n in sizes]
        rbuf, spans = b'', []
        for d, k in frags:
            start = len(rbuf) + 6
            rbuf += b'\x80\xfe' + k + ref_mask(d, k)
            spans.append((start, start + len(d), k))
        lines = self.run_lines('''
mod = load({kind!r})
rbuf = bytearray({rbuf!r})
p = mod.Payload(0)
for start, stop, key in {spans!r}:
    mod.mask(rbuf, key, 0, start, stop)
    p.append(rbuf, start, stop, 1000)
    p.append(memoryview(rbuf), start, start)
n = len(p)
p.append(p)                      # itself: the data twice
p.append(b'tail', 1)
p.append(bytearray(b'xyz'), 1, 2)
out = [n, len(p)]
q = mod.Payload(8)               # no room: appends from itself grow it
q.view()[:] = b'abcdefgh'
try:
    q.append(q.view(0, 4))       # its own view, emptied as it grows
    q.append(memoryview(q), 2, 5)   # a view of its old memory
    out.append(q.take().decode())
except Exception as e:   # CPython: a bytearray with views cannot grow
    out.append(type(e).__name__)
for args in ((b'abc', 2, 1), (b'abc', 0, 4), (b'abc', 0, None, -1)):
    try:
        p.append(*args)
    except ValueError as e:
        out.append(str(e))
out.append(digest(p.take()))
try:
    p.append(b'x')
except ValueError as e:
    out.append(str(e))
print(json.dumps(out))
''', rbuf=rbuf, spans=spans)
        data = b''.join(d for d, _ in frags)
        assert lines == [[len(data), 2 * len(data) + 3 + 1,
                          'BufferError' if self.kind == 'cpython'
                          else 'abcdefgh' + 'abcd' + 'cde',
                          'start/end out of range', 'start/end out of range',
                          'negative size', sha(data + data + b'ail' + b'y'),
                          'payload already taken']]

    def test_payload_errors_and_reuse(self):
        lines = self.run_lines('''
mod = load({kind!r})
def outcome(f, *args):
    try:
        r = f(*args)
        return ['ok', encode(r) if r is not None else None]
    except Exception as e:
        return [type(e).__name__, str(e)]
out = []
out.append(outcome(mod.Payload, -1))
out.append(outcome(mod.Payload, 'x'))
p = mod.Payload(4)
out.append(outcome(p.grow, 3))
out.append(outcome(p.grow, 5, -1))
out.append(outcome(p.view, 2, 1))
out.append(outcome(p.view, 0, 5))
out.append(outcome(p.utf8_validate, 5))
out.append(outcome(p.take, int))
out.append(len(p))
p.view()[:] = b'abcd'
out.append(outcome(p.take, bytearray))
out.append(len(p))
for f, args in ((p.take, ()), (p.take, (str,)), (p.view, ()),
                (p.grow, (8,)), (p.utf8_validate, ()),
                (mod.mask, (p, b'abcd'))):
    out.append(outcome(f, *args))
out.append(outcome(mod.Payload(0).take))
a = mod.Payload(3)
a.view()[:] = b'xyz'
b = a.take(bytearray)
b.append(33)
out.append([type(b).__name__, _hex(b)])
print(json.dumps(out))
''')
        taken = ['ValueError', 'payload already taken']
        assert lines == [[
            ['ValueError', 'negative size'],
            ['TypeError', lines[0][1][1]],
            ['ValueError', 'cannot shrink'],
            ['ValueError', 'negative size'],
            ['ValueError', 'start/end out of range'],
            ['ValueError', 'start/end out of range'],
            ['ValueError', 'start/end out of range'],
            ['TypeError', 'type must be bytes, str or bytearray'],
            4,
            ['ok', typed('bytearray', b'abcd')],
            0,
            taken, taken, taken, taken, taken,
            # The C module refuses its buffer; the twin's is empty.
            taken if self.kind == 'c' else ['ok', 0],
            ['ok', typed('bytes', b'')],
            ['bytearray', b'xyz!'.hex()],
        ]]

    def test_payload_utf8_in_pieces_vs_cpython_decoder(self):
        corpus = self.utf8_corpus()
        cases = []
        for text in corpus:
            for k in sorted({0, len(text) // 3, len(text) // 2, len(text)}):
                cases.append((text, k))
        lines = self.run_lines('''
mod = load({kind!r})
for text, k in {cases!r}:
    p = mod.Payload(len(text))
    p.view()[:] = text
    s1 = p.utf8_validate(k)
    s2 = p.utf8_validate()
    try:
        r = ['str', _hex(p.take(str).encode())]
    except ValueError as e:
        # Refused: the payload is still there.
        r = [str(e), _hex(p.take())]
    print(json.dumps([s1, s2, r]))
# take(str) alone validates everything.
for text in {corpus!r}:
    p = mod.Payload(len(text))
    p.view()[:] = text
    try:
        print(json.dumps(['str', _hex(p.take(str).encode())]))
    except ValueError as e:
        print(json.dumps([str(e)]))
''', cases=cases, corpus=corpus)
        for (text, k), (s1, s2, r) in zip(cases, lines):
            want, fail_at = utf8_oracle(text)
            if fail_at is not None and fail_at < k:
                assert s1 == -1, (text, k)
            else:
                assert s1 >= 0, (text, k)
            if want == 'partial':
                assert s2 > 0, text
            else:
                assert s2 == want, text
            if want == 0:
                assert r == ['str', text.hex()]
            else:
                assert r == ['invalid utf-8', text.hex()]
        for text, r in zip(corpus, lines[len(cases):]):
            try:
                assert r == ['str', text.decode('utf-8').encode().hex()]
            except UnicodeDecodeError:
                assert r == ['invalid utf-8']
        assert len(lines) == len(cases) + len(corpus)

    def test_payload_from_an_asyncio_stream(self):
        # A real socket read with asyncio's Stream.readinto() into views
        # of the payload, as microdot.websocket reads a large frame.
        if self.kind == 'cpython':
            pytest.skip('CPython asyncio streams have no readinto()')
        data = rbytes(200000)
        masked = ref_mask(data, KEY)
        port = free_port()
        lines = self.run_lines('''
import asyncio
mod = load({kind!r})
DATA = {masked!r}
N = len(DATA)

async def serve(reader, writer):
    try:
        p = mod.Payload(N)
        got = phase = reads = 0
        while got < N:
            n = await reader.readinto(p.view(got))
            phase = mod.mask(p, {key!r}, phase, got, got + n)
            got += n
            reads += 1
        done.append([reads > 1, digest(p.take())])
    except Exception as e:
        done.append([type(e).__name__, str(e)])
    writer.close()

async def main():
    server = await asyncio.start_server(serve, '127.0.0.1', {port})
    reader, writer = await asyncio.open_connection('127.0.0.1', {port})
    view = memoryview(DATA)
    for i in range(0, N, 7777):
        writer.write(view[i:i + 7777])
        await writer.drain()
    while not done:
        await asyncio.sleep_ms(5)
    writer.close()
    server.close()

done = []
asyncio.run(main())
print(json.dumps(done[0]))
''', masked=masked, key=KEY, port=port)
        assert lines == [[True, sha(data)]]


class TestCModule(WsMaskContract):
    kind = 'c'

    def test_hot_path_allocates_nothing(self, run_mpy):
        # With the heap locked any allocation raises MemoryError.
        code = """
import micropython, ws_mask
buf = bytearray(70000)
mv = memoryview(buf)
piece = mv[3:1001]
head = mv[:14]
key = b'abcd'
text = b'x' * 1000 + 'é€🎥'.encode()
part = text[:-1]
p = s = t = h = None
micropython.heap_lock()
try:
    p = ws_mask.mask(buf, key)
    p = ws_mask.mask(piece, key, p)
    p = ws_mask.mask(piece, key, offset=p)
    s = ws_mask.utf8_validate(text)
    t = ws_mask.utf8_validate(part, 0)
    h = ws_mask.build_header(head, 2, 70000, fin=True, key=key)
    {extra}
finally:
    micropython.heap_unlock()
print(p, s, t, h)
"""
        r = run_mpy(code=code.format(extra='pass'))
        assert r.returncode == 0, r.stderr
        # t: the last code point is one continuation byte short (state 1).
        assert r.stdout.split() == [str((998 * 2) % 4), '0', '1', '14']
        # The same script fails when something does allocate, so the lock
        # is effective (parse_header returns a new tuple).
        r = run_mpy(code=code.format(
            extra='ws_mask.parse_header(head)'))
        assert r.returncode != 0 and 'MemoryError' in r.stderr

    def test_lean_calls_allocate_nothing(self, run_mpy):
        # The small-message path: header(), mask() and utf8_validate() by
        # offsets, a Payload's view(), grow() and append() within its room,
        # and its utf8_validate(), with the heap locked.
        code = """
import micropython, ws_mask
frame = bytearray(b'\\x81\\x90abcd' + b'0123456789abcdef' + b'\\x82\\x7e\\x01')
big = b'\\x82\\x7f' + (2 ** 40).to_bytes(8, 'big')
key = b'abcd'
q = ws_mask.Payload(1000)
q.grow(1100)          # room for 1250
view = q.view()
a = b = c = d = e = f = g = None
micropython.heap_lock()
try:
    a = ws_mask.header(frame, 0, 22)
    b = ws_mask.header(frame, 22)
    c = ws_mask.header(big, 0, 10)
    d = ws_mask.mask(frame, key, 0, 6, 22)
    e = ws_mask.utf8_validate(frame, 0, 6, 22)
    q.grow(1200)
    q.append(frame, 6, 22)
    f = q.view(5, 900) is view
    g = q.utf8_validate(600)
    {extra}
finally:
    micropython.heap_unlock()
print(a, b, c, d, e, f, g, len(q), len(view))
"""
        r = run_mpy(code=code.format(extra='pass'))
        assert r.returncode == 0, r.stderr
        masked = ref_mask(b'0123456789abcdef', b'abcd')
        assert r.stdout.split() == [
            str(pack(True, 1, True, 16, 6)), '0',
            str(pack(True, 2, False, 2 ** 40, 10)), '0',
            # The 16 bytes masked with the key, then checked as UTF-8.
            str(utf8_oracle(masked)[0]), 'True', '0', '1216', '895']
        # The lock is effective: copy() returns a new object.
        r = run_mpy(code=code.format(extra='ws_mask.copy(frame, 6, 22)'))
        assert r.returncode != 0 and 'MemoryError' in r.stderr

    def test_copy_allocates_its_result_only(self, run_mpy):
        code = """
import gc, ws_mask
buf = bytearray(b'\\x81\\x90abcd' + b'0123456789abcdef')
mv = memoryview(buf)
def per_call(f, n=1000):
    f()
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for _ in range(n):
        f()
    b = gc.mem_alloc()
    gc.enable()
    return (b - a) // n
print(per_call(lambda: ws_mask.copy(buf, 6, 22, str)),
      per_call(lambda: ws_mask.copy(buf, 6, 22)),
      per_call(lambda: str(mv[6:22], 'utf-8')),
      per_call(lambda: ws_mask.header(buf, 0, 22)))
"""
        r = run_mpy(code=code)
        assert r.returncode == 0, r.stderr
        copy_str, copy_bytes, sliced, header = map(int, r.stdout.split())
        # A 16-byte str or bytes is an object and 17 bytes of data: two
        # heap blocks of 32 bytes on this 64-bit build; the memoryview
        # and slice objects of the old way are two more.
        assert copy_str == copy_bytes == 64
        assert sliced == 64 + 64
        assert header == 0

    def test_take_hands_over_the_buffer(self, run_mpy):
        # take() makes its object around the payload's own memory: the
        # heap grows by an object header while a copy would cost the
        # payload's size (measured beside it), and the data is at the
        # address the payload had.
        code = """
import gc, uctypes, ws_mask
N = 1 << 20
fill = b'a' * N
def take(kind, spare):
    p = ws_mask.Payload(N // 2)
    if spare:
        p.grow(N // 2 + 1)        # room for 5/8 N
        p.grow(N // 2 + 100)      # within it: 1/8 N spare
    else:
        p.grow(N)
    p.view()[:] = fill[:len(p)]
    addr = uctypes.addressof(p)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    r = p.take(kind)
    delta = gc.mem_alloc() - before
    gc.enable()
    same = uctypes.addressof(r) == addr
    want = fill[:len(r)]
    ok = r == (want.decode() if kind is str else want)
    print(kind.__name__, int(spare), delta, same, len(r), ok)
for kind in (bytes, str, bytearray):
    for spare in (False, True):
        take(kind, spare)
b = bytearray(N)
gc.collect()
gc.disable()
before = gc.mem_alloc()
c = bytes(b)
print('copy', gc.mem_alloc() - before)
"""
        r = run_mpy(code=code, firmware_args=['-X', 'heapsize=16M'])
        assert r.returncode == 0, r.stderr
        lines = [line.split() for line in r.stdout.splitlines()]
        n = 1 << 20
        copy = int(lines[-1][1])
        assert copy >= n       # the method sees a copy
        for kind, spare, delta, same, length, ok in lines[:-1]:
            assert same == 'True' and ok == 'True', lines
            if spare == '0':
                assert int(length) == n
                assert 0 <= int(delta) <= 64, lines
            else:
                # The spare eighth given back in place, nothing copied.
                assert int(length) == n // 2 + 100
                assert int(delta) <= 64 - (n // 8 - 100), lines
        assert len(lines) == 7

    def test_taken_bytes_and_str_hash_and_compare_as_made_ones(self,
                                                               run_mpy):
        # take() makes a long bytes or str without passing over its data
        # for the hash (MicroPython's own constructors do, once for bytes
        # and twice for str): the object's hash field (after its type
        # pointer, at id()) is 0, "not computed": hash() and dicts compute
        # it when they need it. It must hash, compare and look up exactly as
        # the same value made by bytes() and str() does; a short one (that
        # could be interned) is made the usual way.
        code = """
import uctypes, ws_mask
def field(obj):
    return int.from_bytes(uctypes.bytearray_at(id(obj) + 8, 8), 'little')
for n in (5, 255, 256, 70000):
    for kind in (bytes, str):
        data = bytes(i % 26 + 97 for i in range(n))
        p = ws_mask.Payload(n)
        p.view()[:] = data
        got = p.take(kind)
        made = data if kind is bytes else data.decode()
        lazy = field(got)
        print(n, kind.__name__, lazy, got == made, made == got,
              hash(got) == hash(made), {made: 1}.get(got),
              {got: 2}.get(made), got in {made}, got != made[:-1],
              got[-3:] == made[-3:])
"""
        r = run_mpy(code=code)
        assert r.returncode == 0, r.stderr
        lines = [line.split() for line in r.stdout.splitlines()]
        assert len(lines) == 8
        for n, kind, lazy, *checks in lines:
            assert checks == ['True', 'True', 'True', '1', '2', 'True',
                              'True', 'True'], (n, kind, checks)
            # (255 is the longest a qstr can be on this build)
            assert (lazy == '0') == (int(n) > 255), (n, kind, lazy)

    def test_str_is_not_validated_twice(self, run_mpy):
        # Bytes utf8_validate() has passed are trusted by take(str): it
        # makes the str without MicroPython's own second check (which
        # would raise UnicodeError for this byte changed afterwards).
        r = run_mpy(code='import ws_mask\n'
                    'p = ws_mask.Payload(4)\n'
                    'p.view()[:] = b"abcd"\n'
                    'print(p.utf8_validate())\n'
                    'p.view()[1] = 0xff\n'
                    'print(len(p.take(str)))\n'
                    'q = ws_mask.Payload(4)\n'
                    'q.view()[:] = b"a\\xffcd"\n'
                    'try:\n'
                    '    q.take(str)\n'
                    'except ValueError as e:\n'
                    '    print(e)\n')
        assert r.returncode == 0, r.stderr
        assert r.stdout.split('\n')[:3] == ['0', '4', 'invalid utf-8']

    def test_views_die_with_grow_and_take(self, run_mpy):
        # The view() memoryview is emptied and made read-only when the
        # payload may move or hands its memory over: it can never reach
        # memory the payload no longer owns. (It is one object: the next
        # view() call points it at the payload again.)
        code = """
import io, ws_mask
def tries(v):
    def store():
        v[0] = 1
    out = [len(v)]
    for f in (store, lambda: io.BytesIO(b'x').readinto(v)):
        try:
            out.append(f())
        except Exception as e:
            out.append(type(e).__name__)
    return out
p = ws_mask.Payload(100)
v = p.view(10, 20)
print(tries(v))
keep = bytearray(64)     # in the blocks after p's: grow() moves it
p.grow(100000)
print(tries(v), bytes(p)[10])
print(tries(p.view(10, 20)), v is p.view())
b = p.take()
print(tries(v), len(b))
"""
        r = run_mpy(code=code)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == [
            '[10, None, 1]',
            "[0, 'IndexError', 'TypeError'] 120",   # b'x' survived
            '[10, None, 1] True',
            "[0, 'IndexError', 'TypeError'] 100000",
        ]

    def test_growth_is_amortised_and_bounded(self, run_mpy):
        # A 1 MiB message in fragments: after each grow() the payload's
        # allocation is at most 1.25 x its length (or the limit), the
        # number of reallocations grows with log(length), the data
        # survives every move and take() ends with exactly length + 1.
        code = """
import gc, hashlib, uctypes, ws_mask
M = 1 << 20
block = bytes((i * 7 + 3) & 255 for i in range(65536 + 16))
mvb = memoryview(block)
def take(p):
    a = gc.mem_alloc()
    b = p.take()
    return b, gc.mem_alloc() - a
for F, limit in ((4096, 0), (65536, 0), (4096, M), (1000, 3 * M // 2)):
    gc.collect()
    gc.disable()
    p = ws_mask.Payload(0)
    p.view()
    n = k = 0
    alloc = 0   # bytes the payload's data took beyond its first byte
    worst = peak = reallocs = moves = 0
    addr = uctypes.addressof(p)
    while n < M:
        step = min(F, M - n)
        n += step
        a = gc.mem_alloc()
        p.grow(n, limit)
        grew = gc.mem_alloc() - a
        alloc += grew
        if grew:
            reallocs += 1
        if uctypes.addressof(p) != addr:
            moves += 1
            addr = uctypes.addressof(p)
        worst = max(worst, alloc * 1000 // n)
        peak = max(peak, alloc)
        p.view(n - step, n)[:] = mvb[k % 13:k % 13 + step]
        k += 1
    b, delta = take(p)
    after = alloc + delta
    gc.enable()
    print(F, limit, worst, peak, reallocs, moves, after,
          hashlib.sha256(b).digest().hex())
"""
        r = run_mpy(code=code, firmware_args=['-X', 'heapsize=32M'],
                    timeout=120)
        assert r.returncode == 0, r.stderr
        m = 1 << 20
        block = bytes((i * 7 + 3) & 255 for i in range(65536 + 16))
        rows = [line.split() for line in r.stdout.splitlines()]
        assert len(rows) == 4
        for f, limit, worst, peak, reallocs, moves, after, digest in rows:
            f, limit = int(f), int(limit)
            want, k = [], 0
            while sum(map(len, want)) < m:
                step = min(f, m - sum(map(len, want)))
                want.append(block[k % 13:k % 13 + step])
                k += 1
            assert digest == hashlib.sha256(b''.join(want)).hexdigest()
            # Allocation per byte of message so far, in thousandths, at
            # worst; the most allocated at once, against the limit.
            assert int(worst) <= 1250 + 40, rows
            if limit:
                assert int(peak) <= min(max(m, limit), m * 5 // 4) + 64
            else:
                assert int(peak) <= m * 5 // 4 + 64
            # Amortised: about log(M / F) / log(1.25) reallocations.
            assert int(reallocs) <= math.log(m / f) / math.log(1.25) + 4
            # The bytes object keeps length + 1 bytes, to a 32 B block
            # (and a 32 B object header).
            assert m <= int(after) <= m + 1 + 31 + 32

    def test_big_length_is_exact_on_parse(self, run_mpy):
        r = run_mpy(code='import ws_mask\n'
                    'h = ws_mask.parse_header(b"\\x82\\x7f" + bytes([0x7f]) + '
                    'b"\\xff" * 7)\n'
                    'print(h[3] == 2**63 - 1, type(h[3]) is int)')
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ['True', 'True']


class TestTwinViper(WsMaskContract):
    kind = 'viper'


class TestTwinBigInt(WsMaskContract):
    kind = 'bigint'


class TestTwinCPython(WsMaskContract):
    kind = 'cpython'


def test_c_and_twin_agree_on_mixed_calls(run_mpy, tmp_path):
    """Bit-for-bit identical results, errors and states on random calls.

    A consistency check, not an oracle: the two implementations are
    compared with each other, including what only they share (the numbers
    of the positive UTF-8 states). Each behaviour it mixes is checked
    against an oracle in WsMaskContract: mask() by
    test_mask_random_arguments_vs_reference, parse_header() by
    test_parse_header_random_bytes_vs_rfc_reference (header() too),
    build_header() by test_build_header_random_arguments_vs_reference,
    utf8_validate() from arbitrary states by
    test_utf8_every_state_continues_like_its_prefix (invalid states:
    test_utf8_large_and_arguments), start/end by the test_offsets_* tests
    and copy() by the test_copy_* tests.
    """
    calls = []
    for _ in range(2500):
        n = rng.randint(0, 20)
        data = rbytes(n)
        pick = rng.randrange(6)
        start = rng.choice((0, 0, rng.randint(-1, n + 1)))
        end = rng.choice((None, None, rng.randint(-1, n + 1)))
        if pick == 0:
            calls.append(call('mask', BA(data), B(rbytes(rng.choice((3, 4, 4,
                                                                     4)))),
                              rng.randint(-1, 4)))
        elif pick == 1:
            calls.append(call('parse_header', B(data)))
        elif pick == 2:
            calls.append(call('build_header', BA(bytes(rng.randint(0, 14))),
                              rng.randint(-1, 16),
                              rng.choice((0, 125, 126, 2 ** 16, 2 ** 63, -1)),
                              fin=rng.random() < 0.8,
                              key=rng.choice((None, B(KEY), B(b'ab')))))
        elif pick == 3:
            calls.append(call('utf8_validate', B(data), rng.randint(-1, 8),
                              start, end))
        elif pick == 4:
            calls.append(call('header', B(data), start, end))
        else:
            calls.append(call('copy', B(data), start, end, T(rng.choice(
                ('bytes', 'bytearray', 'str', 'int')))))
    path = tmp_path / 'calls.json'
    path.write_text(json.dumps(calls))
    driver = tmp_path / 'driver.py'
    driver.write_text(DRIVER + DRIVER_MAIN)
    outs = {}
    for kind in ('c', 'viper', 'bigint'):
        r = run_mpy(script=str(driver), args=[kind, str(path)])
        assert r.returncode == 0, r.stderr
        outs[kind] = [json.loads(line) for line in r.stdout.splitlines()]
    ns = {'__name__': 'driver'}
    exec(DRIVER, ns)
    spec = importlib.util.spec_from_file_location('_ws_mask', TWIN_PATH)
    twin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twin)
    outs['cpython'] = [json.loads(json.dumps(ns['run'](twin, c)))
                       for c in json.loads(json.dumps(calls))]
    assert len(outs['c']) == len(calls)
    for kind in ('viper', 'bigint', 'cpython'):
        for c, a, b in zip(calls, outs['c'], outs[kind]):
            assert a == b, (kind, c)
    # Not all errors: the mix exercises results as well.
    kinds = [r.get('e', 'ok') for r in outs['c']]
    assert kinds.count('ok') > 400 and kinds.count('ValueError') > 400


def test_c_sources_follow_micropython_formatting():
    # MicroPython's own uncrustify configuration (tools/codeformat.py).
    cfg = os.path.join(os.environ.get('MICROPY_DIR', os.path.join(
        BUILD, 'micropython-1.25.0')), 'tools', 'uncrustify.cfg')
    assert os.path.isfile(cfg), 'set MICROPY_DIR to the MicroPython tree'
    sources = [os.path.join(ROOT, 'usermod', 'ws_mask', name)
               for name in ('ws_core.c', 'ws_core.h', 'modws_mask.c')]
    r = subprocess.run(['uncrustify', '-c', cfg, '-lC', '--check', '-q']
                       + sources, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
