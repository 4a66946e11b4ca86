# runs in: firmware
"""Masking throughput in the firmware: ws_mask.mask against the alternatives.

Run on the unix port (``make bench``) or on a board::

    mpremote run bench/bench_mask.py

For each size: MB/s of ``ws_mask.mask`` in place, of the pure-Python twin
``microdot._ws_mask.mask`` (viper loops, and big ints with viper off), of
upstream Microdot 2.7.0's generator expression, of the big-int XOR trick,
of a viper byte loop, and of ``dst[:] = src`` (a copy: the memory-bandwidth
reference). Best of several timed runs; every ratio printed comes from this
one run. Nothing is asserted.
"""
import gc
import sys
import time

import ws_mask
from microdot import _ws_mask as twin

KEY = b'\x37\xfa\x21\x3d'
SIZES = (125, 1024, 16 * 1024, 64 * 1024, 1024 * 1024)
RUNS = 5
MIN_US = 20000      # repeat a call until one run takes this long


def upstream_generator(payload, mask):
    # microdot/websocket.py 2.7.0, WebSocket._read_frame, verbatim:
    payload = bytes(x ^ mask[i % 4] for i, x in enumerate(payload))
    return payload


def bigint_xor(buf, key):
    n = len(buf)
    keys = memoryview(key * ((n + 3) >> 2))[:n]
    x = int.from_bytes(buf, 'little') ^ int.from_bytes(keys, 'little')
    buf[:] = x.to_bytes(n, 'little')


_ns = {}
try:
    exec('''
@micropython.viper
def viper_bytes(buf, n, key):
    p = ptr8(buf)
    k = ptr8(key)
    nn = int(n)
    i = 0
    while i < nn:
        p[i] = p[i] ^ k[i & 3]
        i += 1
''', _ns)
except Exception:
    pass
viper_bytes = _ns.get('viper_bytes')


def twin_bigint(buf, key):
    saved = twin._viper_mask
    twin._viper_mask = None
    try:
        twin.mask(buf, key)
    finally:
        twin._viper_mask = saved


def candidates(n):
    src = bytearray(n)
    buf = bytearray(n)
    cands = [
        ('ws_mask', lambda: ws_mask.mask(buf, KEY)),
        ('twin', lambda: twin.mask(buf, KEY)),
        ('twin-bigint', lambda: twin_bigint(buf, KEY)),
        ('generator', lambda: upstream_generator(buf, KEY)),
        ('bigint', lambda: bigint_xor(buf, KEY)),
    ]
    if viper_bytes is not None:
        cands.append(('viper-byte', lambda: viper_bytes(buf, n, KEY)))
    cands.append(('copy', lambda: copy(buf, src)))
    return cands


def copy(dst, src):
    dst[:] = src


def best_mbps(fn, n):
    # Calibrate a repeat count, then keep the best of RUNS runs.
    reps = 1
    while True:
        t = time.ticks_us()
        for _ in range(reps):
            fn()
        dt = time.ticks_diff(time.ticks_us(), t)
        if dt >= MIN_US or reps >= 1 << 20:
            break
        reps *= 4 if dt < MIN_US // 8 else 2
    best = dt
    for _ in range(RUNS - 1):
        gc.collect()
        t = time.ticks_us()
        for _ in range(reps):
            fn()
        best = min(best, time.ticks_diff(time.ticks_us(), t))
    return n * reps / max(best, 1)     # bytes per us = MB/s


def fmt_size(n):
    if n >= 1024 * 1024:
        return '{} MiB'.format(n // (1024 * 1024))
    if n >= 1024:
        return '{} KiB'.format(n // 1024)
    return '{} B'.format(n)


def main():
    print('mask() throughput in MB/s, best of {} runs, on {}'.format(
        RUNS, getattr(sys.implementation, '_machine', sys.platform)))
    print('twin: microdot._ws_mask (viper); twin-bigint: the same, viper '
          'off; generator: upstream Microdot 2.7.0; copy: dst[:] = src')
    results = []
    names = None
    for n in SIZES:
        gc.collect()
        row = []
        for name, fn in candidates(n):
            if name in ('generator', 'twin-bigint', 'bigint') and \
                    n > 64 * 1024 and sys.platform != 'linux':
                row.append((name, None))    # too slow / too big on a board
                continue
            row.append((name, best_mbps(fn, n)))
        names = [name for name, _ in row]
        results.append((n, dict(row)))
    header = ['{:>11}'.format(x) for x in names]
    print('{:>8} '.format('size') + ' '.join(header))
    for n, r in results:
        print('{:>8} '.format(fmt_size(n)) + ' '.join(
            '{:>11.1f}'.format(r[x]) if r[x] else '{:>11}'.format('-')
            for x in names))
    print()
    print('ratios (same run)')
    cols = (('ws_mask/generator', 'ws_mask', 'generator'),
            ('ws_mask/copy', 'ws_mask', 'copy'),
            ('twin/generator', 'twin', 'generator'),
            ('twin-bigint/gen', 'twin-bigint', 'generator'),
            ('ws_mask/twin', 'ws_mask', 'twin'))
    header = ['{:>17}'.format(c[0]) for c in cols]
    print('{:>8} '.format('size') + ' '.join(header))
    for n, r in results:
        cells = []
        for _, a, b in cols:
            if r.get(a) and r.get(b):
                cells.append('{:>16.2f}x'.format(r[a] / r[b]))
            else:
                cells.append('{:>17}'.format('-'))
        print('{:>8} '.format(fmt_size(n)) + ' '.join(cells))


main()
