# The C module ws_mask and its Python twin microdot._ws_mask side by side on
# the same pseudo-random inputs, including the corners the API leaves to the
# implementation (a header both truncated and invalid, odd arguments): they
# must agree on every result, every exception type and every state.
# Runs unchanged on a board: mpremote connect PORT run tests/device/<file>.py
try:
    import ws_mask
except ImportError:
    print("SKIP")
    raise SystemExit

from microdot import _ws_mask

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


def report(what, same, total, first):
    print("cross", what, "agree", same, "of", total)
    if first is not None:
        print("  first difference:", first)


def compare(what, cases, call):
    # cases: an iterable, generated lazily to spare a small heap.
    same = 0
    total = 0
    first = None
    for case in cases:
        a = call(ws_mask, case)
        b = call(_ws_mask, case)
        total += 1
        if a == b:
            same += 1
        elif first is None:
            first = (case, a, b)
    report(what, same, total, first)


def masked(impl, case):
    data, key, offset = case
    buf = bytearray(data)
    ret = outcome(impl.mask, buf, key, offset)
    return ret, bytes(buf)


compare("mask", ((rand_bytes(rand(70)), bytes(rand_bytes(4)), rand(4))
                 for _ in range(150)), masked)


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


def sign(state):
    # The API fixes 0 and -1; a positive state's value is the
    # implementation's own.
    return (state > 0) - (state < 0)


def states(impl, data):
    # The verdict on the whole buffer, and on it fed in two pieces with the
    # state after each piece.
    cut = len(data) // 2
    s1 = impl.utf8_validate(data[:cut])
    s2 = impl.utf8_validate(data[cut:], s1) if s1 != -1 else -1
    return sign(impl.utf8_validate(data)), sign(s1), sign(s2)


compare("utf8_validate", (utf8_bytes() for _ in range(300)), states)
