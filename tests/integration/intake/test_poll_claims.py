"""Two pollers on one database (two serving processes): each target is polled by the one
holding its claim, once per interval; the other takes it over when the claim is overdue or
on a kick."""

from __future__ import annotations

from datetime import UTC, datetime

from billsync.clock import FakeClock
from billsync.engine.poller import Poller
from tests.integration.intake.conftest import Env


def _other_process(env: Env, clock: FakeClock) -> Poller:
    app = env.app
    return Poller(
        app.db,
        app.registry,
        app.clients,
        app.intake,
        limiters=app.limiters,
        clock=clock,
        interval=app.poller.interval,
    )


def _all_due(*pollers: Poller) -> None:
    """As if each poller's own interval had passed (its loop would poll every target)."""
    for poller in pollers:
        for key in list(poller._next_due):
            poller._next_due[key] = 0.0


async def test_two_pollers_poll_each_target_once(env: Env) -> None:
    clock = FakeClock(datetime.now(UTC))
    env.app.poller._clock = clock
    first, second = env.app.poller, _other_process(env, clock)
    a = await first.poll_once(only_due=True)
    b = await second.poll_once(only_due=True)
    assert (a.polled, a.elsewhere) == (4, 0)
    assert (b.polled, b.elsewhere) == (0, 4)  # the first process polls them

    # Each interval: the holder polls again, the other still does not.
    clock.advance(first.interval)
    _all_due(first, second)
    assert (await second.poll_once(only_due=True)).polled == 0
    assert (await first.poll_once(only_due=True)).polled == 4

    # The holder stops polling (it died): once its claims are half an interval overdue
    # (Togai's polls: 30 s, Razorpay's catch-up walk: 60 s), the other process takes them.
    clock.advance(first.interval)
    _all_due(second)
    assert (await second.poll_once(only_due=True)).polled == 0
    clock.advance(16)
    _all_due(second)
    assert (await second.poll_once(only_due=True)).polled == 3  # Togai's, 46 s after
    clock.advance(45)
    _all_due(second)
    assert (await second.poll_once(only_due=True)).polled == 4  # and Razorpay's, 91 s
    _all_due(first)
    assert (await first.poll_once(only_due=True)).elsewhere == 4


async def test_a_kick_polls_now_in_the_process_kicked(env: Env) -> None:
    first = env.app.poller
    second = _other_process(env, FakeClock(datetime.now(UTC)))
    assert (await first.poll_once(only_due=True)).polled == 4
    second.kick()  # e.g. a flow enabled through this process's API
    assert (await second.poll_once(only_due=True)).polled == 4
    _all_due(first)
    assert (await first.poll_once(only_due=True)).elsewhere == 4
