# ws_mask on buffers and keys at every address alignment: memoryview slices
# of a bytearray start 0-7 bytes past its (aligned) data. The ESP32 traps on
# an unaligned word access; so does the QEMU board of this project (see
# firmware/boards/QEMU_MPS2_AN385), where a slip here is a HardFault rather
# than a silent pass. Bytes outside each slice must stay untouched.
# Runs unchanged on a board: mpremote connect PORT run tests/device/<file>.py
try:
    import ws_mask
except ImportError:
    print("SKIP")
    raise SystemExit

from microdot import _ws_mask

KEY = b"\x37\xfa\x21\x3d"
LENGTHS = list(range(20)) + [31, 32, 33, 63, 64, 65, 200]
GUARD = 0xA5


def arena(size):
    return bytearray(bytes([GUARD]) * size)


def guarded(buf, start, end):
    # True if every byte outside buf[start:end] still holds GUARD.
    for i in range(start):
        if buf[i] != GUARD:
            return False
    for i in range(end, len(buf)):
        if buf[i] != GUARD:
            return False
    return True


def mask_at(impl):
    bad = 0
    count = 0
    keys = bytearray(12)
    for start in range(8):
        # The key too, at another alignment than the data.
        kstart = (start * 3 + 1) & 7
        keys[kstart:kstart + 4] = KEY
        key = memoryview(keys)[kstart:kstart + 4]
        for n in LENGTHS:
            for offset in range(4):
                buf = arena(n + 16)
                plain = bytes((i * 13 + 5) & 0xFF for i in range(n))
                buf[start:start + n] = plain
                ret = impl.mask(memoryview(buf)[start:start + n], key, offset)
                want = bytes(
                    b ^ KEY[(offset + i) & 3] for i, b in enumerate(plain))
                count += 1
                if (buf[start:start + n] != want or ret != (offset + n) & 3
                        or not guarded(buf, start, start + n)):
                    bad += 1
    return count, bad


HEADERS = (
    "810548656c6c6f",
    "818537fa213d7f9f4d5158",
    "827e0100",
    "82fe010037fa213d",
    "827f0000000000010000",
    "82ff000000010000000037fa213d",
    "827f7fffffffffffffff",
)


def unhex(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


def parse_at(impl):
    results = []
    for text in HEADERS:
        frame = unhex(text)
        seen = []
        for start in range(8):
            buf = arena(len(frame) + 8)
            buf[start:start + len(frame)] = frame
            seen.append(impl.parse_header(memoryview(buf)[start:]))
        results.append(seen[0] if seen == [seen[0]] * 8 else "differs")
    return results


def hx(b):
    return "".join("{:02x}".format(x) for x in b)


def build_at(impl):
    out = []
    for opcode, length, key in ((2, 65536, KEY), (1, 300, None),
                                (2, 2 ** 40 + 3, None), (9, 4, KEY)):
        seen = []
        for start in range(8):
            buf = arena(32)
            n = impl.build_header(memoryview(buf)[start:start + 14], opcode,
                                  length, key=key)
            ok = guarded(buf, start, start + n)
            seen.append((bytes(buf[start:start + n]), ok))
        same = seen == [seen[0]] * 8
        out.append("{} {}".format(hx(seen[0][0]), same and seen[0][1]))
    return out


def utf8_at(impl):
    # Long runs of ASCII invite a word-at-a-time fast path.
    text = b"websocket " * 6 + "\u03ba\u1f79\u03c3\u03bc\u03b5".encode()
    verdicts = []
    for bad in (None, 0, 3, 17, 58, 59, 60):
        data = bytearray(text)
        if bad is not None:
            data[bad] = 0xFF
        seen = []
        for start in range(8):
            buf = arena(len(data) + 8)
            buf[start:start + len(data)] = data
            view = memoryview(buf)[start:start + len(data)]
            seen.append(impl.utf8_validate(view))
        verdicts.append(seen[0] if seen == [seen[0]] * 8 else "differs")
    return verdicts


for name, impl in (("C", ws_mask), ("py", _ws_mask)):
    count, bad = mask_at(impl)
    print(name, "mask", count, "slices, failed", bad)
    for result in parse_at(impl):
        print(name, "parse", result)
    for result in build_at(impl):
        print(name, "build", result)
    print(name, "utf8", utf8_at(impl))
