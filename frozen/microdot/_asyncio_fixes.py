"""Mends for two defects of MicroPython's asyncio (1.25, and still in its
development tree), applied when this module is imported; on CPython it does
nothing. Both break what a WebSocket server relies on: an idle timeout with
``asyncio.wait_for(ws.receive(), t)`` while another task sends.

* ``IOQueue.remove()``: cancelling a task waiting for a socket forgot the
  other task waiting for the same socket (one reads, one writes), which then
  slept for ever. Now only the cancelled task is forgotten.
* ``wait_for()``: when the awaitable finished in the same pass of the
  scheduler as the timeout expired, cancelling the runner task reached the
  finished task and replaced its result with ``CancelledError``: a message
  received, then lost. Now its result is returned, as CPython's
  ``wait_for()`` does.
"""
import asyncio
try:
    import select
    import asyncio.core as core
    import asyncio.funcs as funcs
except ImportError:   # CPython
    core = None


def _remove(self, task):
    for k in self.map:   # (iterating allocates nothing)
        sm = self.map[k]
        if sm[0] is task or sm[1] is task:
            sm[0 if sm[0] is task else 1] = None
            if sm[0] is None and sm[1] is None:
                self._dequeue(sm[2])
            else:
                self.poller.modify(sm[2], select.POLLOUT
                                   if sm[0] is None else select.POLLIN)
            return


async def _wait_for(aw, timeout, sleep=None):
    """``asyncio.wait_for()``: the same protocol with MicroPython's runner
    task (``funcs._run``), which ends the sleep early when ``aw`` is done."""
    aw = core._promote_to_task(aw)
    if timeout is None:
        return await aw
    runner = core.create_task(funcs._run(core.cur_task, aw))
    try:
        await (sleep or core.sleep)(timeout)
    except core.CancelledError as er:
        status = er.value
        if status is None:   # this task was cancelled from outside
            runner.cancel()
            raise
        if status is True:
            return er.args[1]
        raise status
    # Time is up; aw may have finished in this same pass all the same.
    done = aw.done()
    result = aw.data
    runner.cancel()
    await runner
    if not done:
        raise core.TimeoutError
    if isinstance(result, StopIteration):
        return result.value
    raise result


def _wait_for_ms(aw, timeout):
    return _wait_for(aw, timeout, core.sleep_ms)


if core is not None and hasattr(funcs, '_run'):
    core.IOQueue.remove = _remove
    funcs.wait_for = asyncio.wait_for = _wait_for
    funcs.wait_for_ms = asyncio.wait_for_ms = _wait_for_ms
