"""billsync.tasks: a background loop's cancel is never lost (the SIGTERM hang of serve).

Each case first shows the plain idiom losing the cancel on this Python, so a Python that
fixes it makes the first half fail and the module can go."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from billsync.tasks import cancel_and_wait, wait_event


async def _stops(loop: Callable[[asyncio.Event], Awaitable[None]]) -> bool:
    """Start `loop`, set its event in the same iteration as the cancel (a webhook's hint
    arriving as stop() runs), and say whether the loop ended."""
    event = asyncio.Event()
    task = asyncio.create_task(loop(event))
    await asyncio.sleep(0.01)
    event.set()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=1)
    if not done:
        task.cancel()  # the second cancel lands while nothing is set: it ends the loop
        await asyncio.wait([task], timeout=1)
    return bool(done)


async def _plain_wait_for(event: asyncio.Event) -> None:
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=5)
        event.clear()


async def _with_wait_event(event: asyncio.Event) -> None:
    while True:
        await wait_event(event, 5)
        event.clear()


async def test_wait_for_loses_a_cancel_that_wait_event_keeps() -> None:
    assert not await _stops(_plain_wait_for)  # Python 3.11's wait_for
    assert await _stops(_with_wait_event)


async def test_wait_event_says_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5) is True
    assert await wait_event(event, 0) is True  # already set: no wait


async def _rounds_after_cancel(
    stop_helper: Callable[[asyncio.Task[None]], Awaitable[None]],
) -> int:
    """A loop whose round ends by stopping a helper task (hints' claim renewal), cancelled
    while it waits for the helper to go: how many rounds it ran (1 when the cancel ended
    it)."""
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while rounds < 3:
            rounds += 1
            helper = asyncio.create_task(asyncio.sleep(10))
            await asyncio.sleep(0)
            current = asyncio.current_task()
            assert current is not None
            asyncio.get_running_loop().call_soon(current.cancel)
            await stop_helper(helper)

    task = asyncio.create_task(loop())
    await asyncio.wait([task], timeout=1)
    assert task.done()
    return rounds


async def _suppressing(helper: asyncio.Task[None]) -> None:
    helper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await helper


async def test_suppress_loses_the_callers_cancel_that_cancel_and_wait_keeps() -> None:
    assert await _rounds_after_cancel(_suppressing) == 3  # the loop went on
    assert await _rounds_after_cancel(cancel_and_wait) == 1


async def test_cancel_and_wait_in_a_finally_lets_the_earlier_cancel_go_on() -> None:
    cleaned = []

    async def body() -> None:
        helper = asyncio.create_task(asyncio.sleep(10))
        try:
            await asyncio.sleep(10)
        finally:
            await cancel_and_wait(helper)
            cleaned.append(helper.cancelled())  # the cleanup after it still runs

    task = asyncio.create_task(body())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]


async def test_cancel_and_wait_raises_what_a_task_raised_on_its_way_out() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    quiet = asyncio.create_task(asyncio.sleep(10))
    loud = asyncio.create_task(fails_on_cancel())
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await cancel_and_wait(quiet, None, loud)
    assert quiet.cancelled() and loud.done()
