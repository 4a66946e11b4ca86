"""microdot._asyncio_fixes: two defects of MicroPython 1.25's asyncio that
this firmware mends, each shown in the firmware with and without the mend.

The oracle is CPython's asyncio, whose documented behaviour the mends give
MicroPython: ``wait_for()`` returns the result of an awaitable that has
finished when the timeout is handled, and cancelling the task that waits to
read a socket leaves the task that waits to write it waiting, and woken.
The ``plain`` runs import nothing of Microdot, so they show the defect in
MicroPython's own asyncio: if they ever stop showing it, a later MicroPython
has fixed it and the mend can go.
"""
import asyncio
import socket
import threading
import time

import pytest

WAIT_FOR = """
import asyncio, sys
from time import ticks_ms, ticks_diff
if sys.argv[-1] == 'mended':
    import microdot._asyncio_fixes

async def job(ev, done, until):
    await ev.wait()
    while ticks_diff(until, ticks_ms()) > 0:
        pass   # busy past the timeout, like a slow receive()
    done.append(1)
    return 42

async def setter(ev, ms):
    await asyncio.sleep_ms(ms)
    ev.set()

async def main():
    got = lost = timeouts = 0
    for i in range(40):
        done = []
        ev = asyncio.Event()
        t0 = ticks_ms()
        asyncio.create_task(setter(ev, 8))
        try:
            got += await asyncio.wait_for_ms(job(ev, done, t0 + 14), 10) == 42
        except asyncio.TimeoutError:
            if done:
                lost += 1   # it finished, yet its result is gone
            else:
                timeouts += 1
    print(got, lost, timeouts)

asyncio.run(main())
"""


def counts(run_mpy, code, mode):
    r = run_mpy(code=code, args=[mode])
    assert r.returncode == 0, r.stderr
    return [int(n) for n in r.stdout.split()]


def test_cpython_wait_for_returns_a_result_that_came_in_time_enough():
    # The oracle: CPython returns the result of an awaitable done by the
    # time the timeout is handled.
    async def job(ev):
        await ev.wait()
        time.sleep(0.03)   # past the timeout
        return 42

    async def main():
        ev = asyncio.Event()
        asyncio.get_running_loop().call_later(0.008, ev.set)
        return await asyncio.wait_for(job(ev), 0.01)
    assert asyncio.run(main()) == 42


def test_wait_for_keeps_a_result_finished_as_time_ran_out(run_mpy):
    got, lost, _ = counts(run_mpy, WAIT_FOR, 'plain')
    print('\nwait_for: MicroPython alone lost {} results of 40'.format(lost))
    assert lost > 0
    got, lost, _ = counts(run_mpy, WAIT_FOR, 'mended')
    assert lost == 0 and got > 30


IO_QUEUE = """
import asyncio, sys
if sys.argv[-2] == 'mended':
    import microdot._asyncio_fixes

async def main(port):
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    writer.s.setsockopt(1, 7, 4096)   # SOL_SOCKET, SO_SNDBUF

    async def send():
        writer.write(bytes(1 << 20))   # more than the socket takes
        await writer.drain()           # waits for the peer to read
        print('sent')
    sender = asyncio.create_task(send())
    try:
        await asyncio.wait_for(reader.read(1), 0.2)   # nothing comes
    except asyncio.TimeoutError:
        print('read timed out')
    try:
        await asyncio.wait_for(sender, 5)   # the peer reads now
    except asyncio.TimeoutError:
        print('sender never woke')

asyncio.run(main(int(sys.argv[-1])))
"""


def _reader_peer():
    """A TCP peer that reads nothing for 0.5 s, then everything."""
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        time.sleep(0.5)
        conn.settimeout(10)
        try:
            while conn.recv(1 << 16):
                pass
        except OSError:
            pass
        conn.close()
        srv.close()
    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


@pytest.mark.parametrize('mode, expected', [
    ('plain', ['read timed out', 'sender never woke']),
    ('mended', ['read timed out', 'sent']),
])
def test_cancelled_reader_leaves_the_writer_waiting(run_mpy, mode,
                                                    expected):
    r = run_mpy(code=IO_QUEUE, args=[mode, str(_reader_peer())])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split('\n')[:2] == expected
