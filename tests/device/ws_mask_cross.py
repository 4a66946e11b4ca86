# The C module ws_mask and its Python twin microdot._ws_mask on the same
# pseudo-random inputs, including corners such as a header both truncated
# and invalid, or odd arguments.
#
# For each kind of call, one line per implementation gives a checksum of
# every outcome (the result or the exception type, and the buffer
# afterwards) with what the API leaves open taken out:
# a positive UTF-8 state counts as its sign. The expected output comes from
# tests/device/reference, so these lines check each implementation against
# that oracle. The "agree" line compares the two implementations with each
# other, positive states included: a consistency check, which under the
# reference (standing in for both) always reads "agree N of N".
# Runs unchanged on a board: mpremote connect PORT run tests/device/<file>.py
try:
    import ws_mask
except ImportError:
    print("SKIP")
    raise SystemExit

from microdot import _ws_mask

IMPLS = (("C", ws_mask), ("py", _ws_mask))

_seed = [12345]


def rand(n):
    # Park-Miller minimal standard generator: the same numbers everywhere.
    _seed[0] = _seed[0] * 48271 % 0x7FFFFFFF
    return _seed[0] % n


def rand_bytes(n):
    return bytearray(rand(256) for _ in range(n))


def outcome(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        return type(e).__name__


def sign(state):
    return (state > 0) - (state < 0)


def show(x):
    # The same text on CPython and MicroPython.
    if isinstance(x, (bytes, bytearray)):
        return "b" + "".join("%02x" % b for b in x)
    if isinstance(x, (tuple, list)):
        return "(" + ",".join(show(i) for i in x) + ")"
    return str(x)


def checksum(value, text):
    for ch in text:
        value = (value * 31 + ord(ch)) % 1000003
    return value


def compare(what, cases, call, fixed=None):
    # cases: an iterable, generated lazily to spare a small heap. call
    # returns an outcome; fixed(outcome) is the part the API fixes.
    fixed = fixed or (lambda x: x)
    sums = [0, 0]
    same = total = 0
    first = None
    for case in cases:
        got = [call(impl, case) for _, impl in IMPLS]
        for i, out in enumerate(got):
            sums[i] = checksum(sums[i], show(fixed(out)) + ";")
        total += 1
        if got[0] == got[1]:
            same += 1
        elif first is None:
            first = (case, got[0], got[1])
    for i, (name, _) in enumerate(IMPLS):
        print("cross", what, name, "sum", sums[i], "of", total)
    print("cross", what, "agree", same, "of", total)
    if first is not None:
        print("  first difference:", first)


def masked(impl, case):
    data, key, offset, start, end = case
    buf = bytearray(data)
    ret = outcome(impl.mask, buf, key, offset, start, end)
    return ret, bytes(buf)


def mask_cases():
    for _ in range(150):
        n = rand(70)
        start = rand(n + 2) if rand(3) == 0 else 0
        end = rand(n + 2) if rand(3) == 0 else None
        key = bytes(rand_bytes(4 if rand(8) else 3))
        yield rand_bytes(n), key, rand(5), start, end


compare("mask", mask_cases(), masked)


def header_bytes():
    # Mostly plausible first bytes, so that every rule gets exercised.
    first = rand(256) if rand(4) == 0 else (0x80 * rand(2)) | rand(16)
    second = rand(256)
    if rand(3) == 0:
        second = (second & 0x80) | (126 + rand(2))
    data = bytes([first, second]) + bytes(rand_bytes(rand(13)))
    if rand(8) == 0 and len(data) > 2:
        data = data[:2] + b"\x80" + data[3:]
    return data


compare("parse_header", (header_bytes() for _ in range(400)),
        lambda impl, data: outcome(impl.parse_header, data))


def framed():
    # A header somewhere in a buffer, read by offsets.
    for _ in range(200):
        data = header_bytes()
        lead = bytes(rand_bytes(rand(5)))
        start = len(lead)
        yield lead + data + b"\xff" * 3, start, start + rand(len(data) + 1)


compare("header", framed(),
        lambda impl, case: outcome(impl.header, *case))

LENGTHS = (0, 1, 125, 126, 127, 65535, 65536, 2 ** 32, 2 ** 63 - 1, 2 ** 63,
           2 ** 64, -1)
OPCODES = (-1, 0, 1, 2, 3, 8, 9, 10, 15, 16)


def built(impl, case):
    opcode, length, fin, key = case
    buf = bytearray(14)
    n = outcome(impl.build_header, buf, opcode, length, fin=fin, key=key)
    return n, bytes(buf)


compare("build_header", ((op, n, fin, key) for op in OPCODES
                         for n in LENGTHS for fin in (True, False)
                         for key in (None, b"\x01\x02\x03\x04")), built)

SMALL = [(size, bytearray(size)) for size in (0, 2, 10, 13)]
compare("build_header small buffers", SMALL, lambda impl, case: outcome(
    impl.build_header, case[1], 1, 5))
compare("build_header bad key", [b"", b"123", b"12345"],
        lambda impl, key: outcome(impl.build_header, bytearray(14), 1, 5,
                                  key=key))


LEADS = b"\x41\xc0\xc1\xc2\xdf\xe0\xe1\xed\xee\xef\xf0\xf3\xf4\xf5\xff"
TAILS = b"\x00\x7f\x80\x8f\x90\x9f\xa0\xbf\xc0"


def utf8_bytes():
    # Lead bytes at the edges of RFC 3629's table, each followed by up to
    # three bytes at the edges of the continuation ranges.
    out = bytearray()
    for _ in range(rand(6)):
        out.append(LEADS[rand(len(LEADS))])
        for _ in range(rand(4)):
            out.append(TAILS[rand(len(TAILS))])
    return bytes(out)


def states(impl, data):
    # The verdict on the whole buffer, on it fed in two pieces with the
    # state after each piece, and on its second half by offsets.
    cut = len(data) // 2
    s1 = impl.utf8_validate(data[:cut])
    s2 = impl.utf8_validate(data[cut:], s1) if s1 != -1 else -1
    s3 = impl.utf8_validate(data, 0, cut)
    return impl.utf8_validate(data), s1, s2, s3


compare("utf8_validate", (utf8_bytes() for _ in range(300)), states,
        lambda out: [sign(s) for s in out])


def copied(impl, case):
    data, start, end, kind = case
    return outcome(impl.copy, data, start, end, kind)


def copy_cases():
    for i in range(200):
        data = utf8_bytes()
        start = rand(len(data) + 2) if rand(3) == 0 else 0
        yield data, start, None, (bytes, str, bytearray, int)[i % 4]


compare("copy", copy_cases(), copied,
        lambda out: (type(out).__name__, out))


def assembled(impl, case):
    # A message in fragments through one Payload: grown and filled through
    # a view, or appended from a buffer, checked as UTF-8 as it arrives,
    # then taken.
    pieces, kind = case
    p = impl.Payload(0)
    states = []
    for i, piece in enumerate(pieces):
        start = len(p)
        if i & 1:
            p.append(b"\xff" + piece + b"\xfe", 1, 1 + len(piece), 64)
        else:
            p.grow(start + len(piece), 64)
            p.view(start)[:] = piece
        states.append(p.utf8_validate())
    again = None
    try:
        out = p.take(kind)
    except ValueError:
        # Refused text leaves the payload as it was: its bytes can be taken.
        out = "ValueError"
        again = outcome(p.take)
    return states, out, again, len(p), outcome(lambda: len(p.view()))


def payload_cases():
    for i in range(120):
        pieces = [utf8_bytes() for _ in range(rand(4))]
        yield pieces, (bytes, str, bytearray)[i % 3]


compare("Payload", payload_cases(), assembled,
        lambda out: ([sign(s) for s in out[0]],
                     (type(out[1]).__name__, out[1])) + out[2:])
