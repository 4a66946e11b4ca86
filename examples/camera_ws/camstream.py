"""One capture loop, many WebSocket viewers, newest frame wins.

A :class:`Broadcaster` pulls JPEG frames from a source (the camera or the
synthetic frames), stamps each with a sequence number and a timestamp, and
offers the newest one to every :class:`Viewer`. Each viewer runs one writer
task with at most one send in flight: when it finishes a send it takes
whatever frame is newest *then*; the frames it never saw are counted as
dropped. A viewer that stops reading therefore stalls only its own writer
and pins one frame buffer -- the server never queues frames for it -- and
once one send (a frame or a reply) has been stuck for ``Viewer.stall_ms``
it is disconnected, whether or not frames are still being captured.

Frame buffers come from a small pool that is reused: steady-state streaming
allocates no frame-sized memory. The pool holds at most one buffer per
viewer with a send in flight, the newest frame and the one being filled;
spare buffers are let go at the next capture, and all of them once no
viewer wants frames.

A capture that fails (a driver error, a ``MemoryError`` after a size
change) is counted and printed, and the loop tries again after a pause.

The stamp (see ``README.md``): the payload of a JPEG comment segment
inserted right after SOI, at fixed offsets, so that a browser reads it with
a ``DataView`` without decoding the image::

    offset  size  content
    0       2     FF D8        SOI
    2       2     FF FE        COM marker
    4       2     00 0E        segment length (14, big-endian)
    6       4     "CAMF"       magic
    10      4     sequence     uint32 big-endian, +1 per captured frame
    14      4     timestamp    uint32 big-endian, capture time in ms
                               (time.ticks_ms() modulo 2**30)
    18      ...   the source JPEG from its byte 2 on (after its SOI)
"""
import struct
import sys

import asyncio
from time import ticks_diff, ticks_ms

from microdot.websocket import WebSocketError

STAMP_LEN = 18
MAGIC = b'CAMF'
TICKS_MASK = (1 << 30) - 1
_STAMP_HEAD = b'\xff\xd8\xff\xfe\x00\x0e' + MAGIC


class Frame:
    """A reusable buffer holding one stamped JPEG frame."""

    def __init__(self, capacity):
        #: Sequence number of the frame held.
        self.seq = 0
        #: Sends of this frame in flight; the buffer is refilled only at 0.
        self.users = 0
        #: The stamped frame: a memoryview of the used part of the buffer.
        self.data = None
        self._alloc(capacity)

    def _alloc(self, capacity):
        self.buf = bytearray(capacity)
        self.buf[:len(_STAMP_HEAD)] = _STAMP_HEAD
        self._mv = memoryview(self.buf)

    def fill(self, jpeg, seq, ms):
        """Copy ``jpeg`` (a memoryview starting with SOI) in, stamped."""
        n = len(jpeg) - 2 + STAMP_LEN
        if n > len(self.buf):
            # A bigger frame size: grow once, with room for the next ones.
            self._alloc(n + n // 4)
        struct.pack_into('>II', self.buf, 10, seq, ms)
        self._mv[STAMP_LEN:n] = jpeg[2:]
        self.seq = seq
        self.data = self._mv[:n]


class Viewer:
    """A WebSocket client of the broadcaster, with its own writer task.

    :param broadcaster: the :class:`Broadcaster` to watch.
    :param ws: the ``microdot.websocket.WebSocket`` to send on.
    """
    #: Control replies waiting for the writer before the reader stops
    #: reading more control messages from this client.
    max_replies = 4
    #: A send (frame or reply) in flight longer than this (ms) means the
    #: client stopped reading: it is disconnected, freeing its socket and
    #: its frame.
    stall_ms = 10000
    _next_id = 1

    def __init__(self, broadcaster, ws):
        self.broadcaster = broadcaster
        self.ws = ws
        self.id = Viewer._next_id
        Viewer._next_id += 1
        #: Frames sent, frames skipped, payload bytes sent.
        self.sent = 0
        self.dropped = 0
        self.bytes = 0
        #: A paused viewer receives no frames (control replies still flow).
        self.paused = False
        #: ``ticks_ms()`` when the send in flight started, or None.
        self.sending_since = None
        self.closing = False
        #: Set when the viewer was disconnected for stalling.
        self.evicted = False
        self._last = None  # seq of the last frame sent; None: resync
        self._replies = []
        self._state_dirty = False
        self._wake = asyncio.Event()

    def skipped(self):
        """Frames dropped so far, including those passed over while the
        send in flight goes on (newest wins: they will never be sent)."""
        f = self.broadcaster.latest
        if self.paused or self._last is None or f is None:
            return self.dropped
        gap = (f.seq - self._last) & 0xffffffff
        return self.dropped + (gap - 1 if gap > 1 else 0)

    def stats(self):
        """Counters of this viewer as a dict (for JSON)."""
        return {'id': self.id, 'sent': self.sent, 'dropped': self.skipped(),
                'bytes': self.bytes, 'paused': self.paused}

    def wake(self):
        self._wake.set()

    def pause(self, paused):
        """Stop or restart frames. A restart does not count a drop."""
        if self.paused and not paused:
            self._last = None
        self.paused = paused
        self._wake.set()

    async def reply(self, text):
        """Queue a text message for the writer (sent before any frame).

        ``text`` may be a function returning it, called when the message
        goes out: counters it reports then cover every frame sent before.
        """
        while len(self._replies) >= self.max_replies and not self.closing:
            # The client sends controls faster than it reads: stop reading
            # its controls until the writer catches up.
            await asyncio.sleep_ms(20)
        self._replies.append(text)
        self._wake.set()

    def state_changed(self):
        """Mark the shared state as changed; the writer sends it once."""
        self._state_dirty = True
        self._wake.set()

    async def run(self):
        """The writer: the only task that sends on this viewer's socket."""
        b = self.broadcaster
        try:
            while not self.closing:
                if self._replies:
                    text = self._replies.pop(0)
                    await self._send(text() if callable(text) else text)
                    continue
                if self._state_dirty:
                    self._state_dirty = False
                    await self._send(b.state_message())
                    continue
                f = b.latest
                if self.paused or f is None or f.seq == self._last:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if self._last is not None:
                    self.dropped += (f.seq - self._last - 1) & 0xffffffff
                self._last = f.seq
                data = f.data
                f.users += 1
                try:
                    await self._send(data, 2)  # WebSocket.BINARY
                finally:
                    f.users -= 1
                self.sent += 1
                self.bytes += len(data)
        except (OSError, WebSocketError):
            pass  # the client went away; the reader side sees it too
        except Exception as exc:
            sys.print_exception(exc)
        finally:
            self.closing = True

    async def _send(self, data, opcode=None):
        self.sending_since = ticks_ms()
        try:
            await self.ws.send(data, opcode)
        finally:
            self.sending_since = None

    def stalled(self, now):
        """True if one send has been in flight for over ``stall_ms``."""
        t = self.sending_since
        return t is not None and ticks_diff(now, t) > self.stall_ms

    async def evict(self):
        """Disconnect a stalled client: closing its socket ends both the
        writer's send and the reader's receive with an error."""
        self.evicted = True
        self.closing = True
        await self.ws.request.sock[1].aclose()

    async def stop(self, writer, grace_ms=1000):
        """End the writer, letting a send in flight finish first.

        Without the grace period a close frame could follow half a frame.
        """
        self.closing = True
        self._wake.set()
        try:
            await asyncio.wait_for_ms(writer, grace_ms)
        except Exception:
            pass
        writer.cancel()


class Broadcaster:
    """The capture loop shared by every viewer.

    :param source: a frame source (see ``camsource``).
    :param max_viewers: viewers accepted at once.
    """
    #: After a failed capture, wait this long (ms) before the next one;
    #: the wait doubles while failures go on, up to ``max_retry_ms``.
    retry_ms = 100
    max_retry_ms = 2000
    #: How often (ms) viewers are checked for a stalled send.
    check_ms = 500

    def __init__(self, source, max_viewers=4):
        self.source = source
        self.max_viewers = max_viewers
        self.viewers = []
        #: The newest stamped frame, or None before the first capture.
        self.latest = None
        #: Frames captured, frames the source returned broken, captures
        #: that raised.
        self.captured = 0
        self.bad = 0
        self.errors = 0
        #: Viewers disconnected for not reading.
        self.evicted = 0
        self._seq = 0
        self._pool = []
        self._wake = asyncio.Event()

    def add(self, viewer):
        self.viewers.append(viewer)
        self._wake.set()

    def remove(self, viewer):
        if viewer in self.viewers:
            self.viewers.remove(viewer)

    def wake(self):
        """Re-check whether anyone wants frames (after a resume)."""
        self._wake.set()

    def state_message(self):
        return self.source.state_json()

    def notify_state(self, origin):
        """Tell every viewer but ``origin`` that the shared state changed."""
        for v in self.viewers:
            if v is not origin:
                v.state_changed()

    def pool_bytes(self):
        return sum(len(f.buf) for f in self._pool)

    def stats(self):
        return {'captured': self.captured, 'bad': self.bad,
                'errors': self.errors, 'evicted': self.evicted,
                'seq': self._seq, 'pool': len(self._pool),
                'pool_bytes': self.pool_bytes(),
                'viewers': [v.stats() for v in self.viewers]}

    def _active(self):
        for v in self.viewers:
            if not v.paused:
                return True
        return False

    def _free_frame(self, n):
        """A pool buffer to fill with an ``n``-byte stamped frame.

        Buffers that no send holds and that do not hold the newest frame
        are spare: the first that fits (and is not over 4 times too big)
        is reused, the others are let go.
        """
        pool = self._pool
        pick = None
        i = len(pool)
        while i:
            i -= 1
            f = pool[i]
            if f.users or f is self.latest:
                continue
            if pick is None and n <= len(f.buf) <= 4 * n:
                pick = f
            else:
                pool.pop(i)
        if pick is None:
            pick = Frame(n + n // 4)
            pool.append(pick)
        return pick

    def _let_go(self):
        """Nobody wants frames: keep only the buffers sends still hold."""
        self.latest = None
        self._pool = [f for f in self._pool if f.users]

    def start(self):
        """Start the capture loop and the stall check, as tasks."""
        asyncio.create_task(self.run())
        asyncio.create_task(self.watch())

    async def run(self):
        """Capture while at least one viewer wants frames; forever."""
        backoff = 0
        while True:
            if not self._active():
                self._let_go()
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                if not await self._capture():
                    await asyncio.sleep_ms(10)
                backoff = 0
            except Exception as exc:
                # A driver error, a MemoryError: never the end of capture.
                self.errors += 1
                if not backoff:
                    sys.print_exception(exc)  # once per run of failures
                backoff = min(2 * backoff or self.retry_ms,
                              self.max_retry_ms)
                await asyncio.sleep_ms(backoff)

    async def _capture(self):
        """Capture one frame and offer it; False if the source gave none."""
        src = self.source
        try:
            jpeg = await src.capture()
            # The camera hands out a signed ('b') memoryview: mask bytes.
            if (jpeg is None or len(jpeg) < 4 or jpeg[0] & 0xff != 0xff
                    or jpeg[1] & 0xff != 0xd8):
                self.bad += 1
                return False
            f = self._free_frame(len(jpeg) - 2 + STAMP_LEN)
            seq = (self._seq + 1) & 0xffffffff
            f.fill(jpeg, seq, ticks_ms() & TICKS_MASK)
        finally:
            src.release()
        self._seq = seq
        self.latest = f
        self.captured += 1
        for v in self.viewers:
            v.wake()
        return True

    async def watch(self):
        """Disconnect viewers whose send stalled, every ``check_ms``.

        Independent of captures: a viewer stuck on a send may have paused
        and be the only one, and then nothing is captured.
        """
        while True:
            await asyncio.sleep_ms(self.check_ms)
            now = ticks_ms()
            for v in list(self.viewers):
                if v.stalled(now) and not v.evicted:
                    self.evicted += 1
                    try:
                        await v.evict()
                    except Exception as exc:  # the check must go on
                        sys.print_exception(exc)
