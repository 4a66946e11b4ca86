# ws_mask.mask() of the C module and of its Python twin against a byte-wise
# reference: every length 0-40 and a few larger, every key offset, several
# keys; streaming in chunks; errors; and, for the C module, no allocation
# (the twin is the fallback, and documents that it allocates).
# Runs unchanged on a board: mpremote connect PORT run tests/device/<file>.py
try:
    import ws_mask
except ImportError:
    print("SKIP")
    raise SystemExit

from microdot import _ws_mask

try:
    from micropython import heap_lock, heap_unlock
except ImportError:

    def heap_lock():
        pass

    heap_unlock = heap_lock


KEYS = (b"\x00\x00\x00\x00", b"\x37\xfa\x21\x3d", b"\xff\x01\x80\x7f")
LENGTHS = list(range(41)) + [63, 64, 65, 127, 128, 129, 1000]


def data(n):
    return bytearray((i * 7 + 3) & 0xFF for i in range(n))


def reference(buf, key, offset):
    return bytearray(b ^ key[(offset + i) & 3] for i, b in enumerate(buf))


def vectors(impl):
    bad = 0
    count = 0
    for n in LENGTHS:
        plain = data(n)
        for key in KEYS:
            for offset in range(4):
                buf = bytearray(plain)
                ret = impl.mask(buf, key, offset)
                count += 1
                want = reference(plain, key, offset)
                if buf != want or ret != (offset + n) & 3:
                    bad += 1
                    if bad <= 5:
                        print("FAIL", n, key, offset, ret)
    return count, bad


def default_offset(impl):
    buf = bytearray(b"Hello")
    ret = impl.mask(buf, b"\x37\xfa\x21\x3d")
    return ret == 1 and buf == bytearray(b"\x7f\x9f\x4d\x51\x58")


def streaming(impl):
    # A payload masked in pieces, each starting at the offset the previous
    # piece returned, equals the payload masked in one go.
    key = KEYS[1]
    plain = data(300)
    whole = reference(plain, key, 0)
    bad = 0
    for size in (1, 2, 3, 5, 7, 64, 100):
        buf = bytearray(plain)
        mv = memoryview(buf)
        offset = 0
        for start in range(0, len(buf), size):
            offset = impl.mask(mv[start:start + size], key, offset)
        if buf != whole or offset != len(buf) & 3:
            bad += 1
    return bad


def error(impl, buf, key, offset):
    try:
        impl.mask(buf, key, offset)
    except Exception as e:
        return type(e).__name__
    return "no error"


def errors(impl):
    return [
        error(impl, b"abcd", b"1234", 0),
        error(impl, b"", b"1234", 0),
        error(impl, bytearray(4), b"123", 0),
        error(impl, bytearray(4), b"12345", 0),
        error(impl, bytearray(4), b"", 0),
        error(impl, bytearray(4), b"1234", 4),
        error(impl, bytearray(4), b"1234", -1),
    ]


def allocations(impl, buf, key):
    # Masking a frame must not touch the heap: run it with the heap locked.
    heap_lock()
    try:
        impl.mask(buf, key, 0)
        impl.mask(buf, key, 3)
        result = "none"
    except MemoryError:
        result = "MemoryError"
    heap_unlock()
    return result


for name, impl in (("C", ws_mask), ("py", _ws_mask)):
    count, bad = vectors(impl)
    print(name, "vectors", count, "failed", bad)
    print(name, "default offset", default_offset(impl))
    print(name, "streaming failed", streaming(impl))
    print(name, "errors", " ".join(errors(impl)))

view = memoryview(bytearray(64))[3:]
print("C allocations", allocations(ws_mask, bytearray(256), KEYS[1]),
      allocations(ws_mask, view, KEYS[2]))
