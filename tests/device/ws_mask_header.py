# ws_mask.parse_header() and build_header() of the C module and of its
# Python twin: the framing examples of RFC 6455 section 5.7, every length
# encoding boundary, truncated headers, the protocol errors of section 5.2,
# and build -> parse round trips.
# Runs unchanged on a board: mpremote connect PORT run tests/device/<file>.py
try:
    import ws_mask
except ImportError:
    print("SKIP")
    raise SystemExit

from microdot import _ws_mask


def unhex(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


def hx(b):
    return "".join("{:02x}".format(x) for x in b)


# (name, frame bytes) of complete headers, some followed by payload.
VALID = (
    ("rfc text unmasked", "810548656c6c6f"),
    ("rfc text masked", "818537fa213d7f9f4d5158"),
    ("rfc fragment 1", "010348656c"),
    ("rfc fragment 2", "80026c6f"),
    ("rfc ping", "890548656c6c6f"),
    ("rfc pong masked", "8a8537fa213d7f9f4d5158"),
    ("rfc 256 binary", "827e0100"),
    ("rfc 64k binary", "827f0000000000010000"),
    ("empty text", "8100"),
    ("empty close", "8800"),
    ("close 1000", "880203e8"),
    ("len 125", "817d"),
    ("len 126", "817e007e"),
    ("len 65535", "827effff"),
    ("len 65536 masked", "82ff000000000001000001020304"),
    ("len 2**32", "827f0000000100000000"),
    ("len 2**63-1", "827f7fffffffffffffff"),
    ("non-minimal 16", "827e0005"),
    ("non-minimal 64", "827f0000000000000005"),
    ("ping 125 masked", "89fd00000000"),
    ("continuation", "0000"),
)

# (name, complete header) that RFC 6455 section 5.2 forbids.
INVALID = (
    ("rsv1", "c100"),
    ("rsv2", "a100"),
    ("rsv3", "9100"),
    ("rsv all", "f100"),
    ("opcode 3", "8300"),
    ("opcode 7", "8700"),
    ("opcode 0xb", "8b00"),
    ("opcode 0xf", "8f00"),
    ("ping not fin", "0900"),
    ("close not fin", "0800"),
    ("ping 126", "897e007e"),
    ("pong 65536", "8a7f0000000000010000"),
    ("close 126 masked", "88fe007e01020304"),
    ("length top bit", "827f8000000000000000"),
    ("length all ones", "82ffffffffffffffffff01020304"),
)


def parse(impl, buf):
    try:
        return impl.parse_header(buf)
    except Exception as e:
        return type(e).__name__


def build(impl, opcode, length, fin=True, key=None):
    buf = bytearray(14)
    try:
        n = impl.build_header(buf, opcode, length, fin=fin, key=key)
    except Exception as e:
        return type(e).__name__
    return "{} {}".format(n, hx(buf[:n]))


BUILD = (
    (1, 0, True, None),
    (1, 5, True, None),
    (1, 125, True, None),
    (1, 126, True, None),
    (2, 65535, True, None),
    (2, 65536, True, None),
    (2, 2 ** 32, True, None),
    (2, 2 ** 63 - 1, True, None),
    (1, 5, True, b"\x37\xfa\x21\x3d"),
    (2, 126, False, b"\x00\x00\x00\x00"),
    (2, 70000, True, b"\xff\xfe\xfd\xfc"),
    (0, 3, False, None),
    (0, 2, True, b"\x01\x02\x03\x04"),
    (8, 2, True, None),
    (9, 125, True, b"\x01\x02\x03\x04"),
    (10, 0, True, None),
)

BUILD_INVALID = (
    (3, 0, True, None),
    (0xB, 0, True, None),
    (9, 126, True, None),
    (8, 0, False, None),
    (10, 65536, True, b"\x01\x02\x03\x04"),
    (2, 2 ** 63, True, None),
)

for name, impl in (("C", ws_mask), ("py", _ws_mask)):
    for label, frame in VALID:
        data = unhex(frame)
        result = parse(impl, data)
        print(name, "parse", label, result)
        if type(result) is tuple:
            size = result[4]
            short = [parse(impl, data[:i]) for i in range(size)]
            print(name, "  truncated", size, "all None",
                  short == [None] * size)
            views = (bytearray(data), memoryview(data), data + b"\0" * 9)
            print(name, "  buffers agree",
                  all(parse(impl, b) == result for b in views))
    for label, frame in INVALID:
        print(name, "parse", label, parse(impl, unhex(frame)))
    payload = bytearray(unhex("818537fa213d7f9f4d5158"))
    fin, opcode, masked, length, size = impl.parse_header(payload)
    body = memoryview(payload)[size:size + length]
    impl.mask(body, payload[size - 4:size])
    print(name, "rfc masked payload", bytes(body))
    for args in BUILD:
        out = build(impl, *args)
        print(name, "build", args[:3], args[3] is not None, out)
        n = int(out.split()[0])
        back = parse(impl, unhex(out.split()[1]))
        expect = (args[2], args[0], args[3] is not None, args[1], n)
        print(name, "  round trip", back == expect)
    for args in BUILD_INVALID:
        print(name, "build", args[:3], args[3] is not None, build(impl, *args))

# header(): the same fields in one int, at the length edges of the small-int
# range (2**20 bytes on 32-bit ports, where the C module makes a big int).
EDGES = (0, 125, 126, 65535, 65536, 2 ** 20 - 1, 2 ** 20, 2 ** 30, 2 ** 32,
         2 ** 52, 2 ** 63 - 1)
for name, impl in (("C", ws_mask), ("py", _ws_mask)):
    for n in EDGES:
        buf = bytearray(14)
        size = impl.build_header(buf, 2, n, key=b"\x01\x02\x03\x04")
        h = impl.header(b"\xff" + buf, 1, 1 + size)
        print(name, "header", n, h >> 10 == n, h & 1023,
              impl.header(buf, 0, size - 1), h == impl.header(buf))
