"""Resolving Togai hints in batches: a sweep only when it is cheaper, capped at one page per
hint still missing, partial progress kept when a page fails."""

from __future__ import annotations

import httpx
import pytest

from billsync import errors
from billsync.connectors.togai import APP
from billsync.connectors.togai.client import TogaiClient
from billsync.domain import Hint
from tests.unit.connectors_togai.togai_fake import TOKEN, FakeTogai


def _client(fake: FakeTogai, fail_calls: set[int] | None = None) -> TogaiClient:
    seen = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal seen
        seen += 1
        if fail_calls and seen in fail_calls:
            fake.requests.append(request)
            return httpx.Response(503, text="<html>Service Unavailable</html>")
        return fake.handle(request)

    return TogaiClient(TOKEN, base_url="http://togai.test", transport=httpx.MockTransport(handle))


async def _nothing_known(_ids: object) -> set[str]:
    return set()


def _calls(fake: FakeTogai) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in fake.requests]


def _accounts(fake: FakeTogai, n: int) -> list[str]:
    return [fake.add_account(account_id=f"A{i:03d}")["id"] for i in range(n)]


async def test_a_sweep_is_capped_at_one_page_per_missing_hint_then_fetches_each() -> None:
    fake = FakeTogai()  # two accounts per page
    ids = _accounts(fake, 20)
    wanted = ids[-3:]  # the newest, on the last page
    found = await APP.resolve_hints(
        _client(fake), "account", [Hint("account", i) for i in wanted], _nothing_known
    )
    assert sorted(e.external_id for e in found.events) == [f"account:{i}:created" for i in wanted]
    # Three pages without them (never more list calls than hints), then one GET each.
    assert _calls(fake) == ["GET /accounts"] * 3 + [f"GET /accounts/{i}" for i in wanted]
    # The list is longer than that: the next batch must be bigger before it sweeps again.
    assert found.list_pages == 6
    fake.requests.clear()
    again = await APP.resolve_hints(
        _client(fake), "account", [Hint("account", i) for i in wanted], _nothing_known, list_pages=6
    )
    assert len(again.events) == 3
    assert _calls(fake) == [f"GET /accounts/{i}" for i in wanted]


async def test_known_events_cost_nothing() -> None:
    fake = FakeTogai()
    ids = _accounts(fake, 4)

    async def all_known(external_ids: object) -> set[str]:
        return {f"account:{i}:created" for i in ids}

    found = await APP.resolve_hints(
        _client(fake), "account", [Hint("account", i) for i in ids], all_known
    )
    assert found.events == [] and fake.requests == []


async def test_a_failed_page_keeps_what_was_found_and_leaves_the_rest() -> None:
    fake = FakeTogai()
    ids = _accounts(fake, 6)
    hints = [Hint("account", i) for i in ids]
    found = await APP.resolve_hints(_client(fake, fail_calls={2}), "account", hints, _nothing_known)
    assert [e.external_id for e in found.events] == [f"account:{i}:created" for i in ids[:2]]
    assert found.unresolved == frozenset(ids[2:])


async def test_nothing_resolved_raises_so_the_engine_backs_off() -> None:
    fake = FakeTogai()
    ids = _accounts(fake, 4)
    with pytest.raises(errors.UnavailableError):
        await APP.resolve_hints(
            _client(fake, fail_calls={1}),
            "account",
            [Hint("account", i) for i in ids],
            _nothing_known,
        )


async def test_a_failed_single_fetch_is_left_for_later() -> None:
    fake = FakeTogai()
    ids = _accounts(fake, 2)
    found = await APP.resolve_hints(
        _client(fake, fail_calls={1}),
        "account",
        [Hint("account", i) for i in ids],
        _nothing_known,
        list_pages=5,  # too few hints for a sweep: one GET each
    )
    assert [e.external_id for e in found.events] == [f"account:{ids[1]}:created"]
    assert found.unresolved == frozenset({ids[0]})


async def test_parse_hint_reads_without_calling() -> None:
    assert APP.parse_hint is not None
    hint = APP.parse_hint({}, b'{"event": "INVOICE_GENERATED", "payload": {"id": "inv.9"}}')
    assert hint == Hint("invoice", "inv.9", "invoice_generated")
    other = APP.parse_hint({}, b'{"event": "PRICE_PLAN_CREATED", "payload": {"id": "pp.1"}}')
    assert not isinstance(other, Hint) and other.trigger is None
    with pytest.raises(errors.RejectedError):
        APP.parse_hint({}, b"[1, 2]")


async def test_the_next_sweep_resumes_where_the_last_one_read_its_last_page() -> None:
    fake = FakeTogai()
    fake.page_size = 5
    ids = _accounts(fake, 20)
    first = await APP.resolve_hints(
        _client(fake), "account", [Hint("account", i) for i in ids], _nothing_known
    )
    assert len(first.events) == 20 and first.list_pages == 4
    assert first.resume == "15|"  # the token that read the last page
    new = [fake.add_account(account_id=f"B{i}")["id"] for i in range(4)]
    fake.requests.clear()
    # An older account's hint too: it lies before the resume point.
    hinted = [*new, ids[1]]
    again = await APP.resolve_hints(
        _client(fake),
        "account",
        [Hint("account", i) for i in hinted],
        _nothing_known,
        list_pages=first.list_pages,
        resume=first.resume,
    )
    assert sorted(e.external_id for e in again.events) == sorted(
        f"account:{i}:created" for i in hinted
    )
    # Two pages from the resume point find the new ones (a sweep from the start would read
    # five; a GET each, five); the old one, before that point, is fetched alone.
    assert _calls(fake) == ["GET /accounts"] * 2 + [f"GET /accounts/{ids[1]}"]
    assert [r.url.params.get("nextToken") for r in fake.requests[:2]] == ["15|", "20|"]
    assert again.resume == "20|" and again.list_pages is None


async def test_a_refused_resume_token_is_dropped_and_nothing_is_lost() -> None:
    fake = FakeTogai()
    ids = _accounts(fake, 6)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("nextToken") == "stale":
            fake.requests.append(request)
            return httpx.Response(400, json={"message": "Invalid nextToken"})
        return fake.handle(request)

    client = TogaiClient(TOKEN, base_url="http://togai.test", transport=httpx.MockTransport(handle))
    found = await APP.resolve_hints(
        client, "account", [Hint("account", ids[5])], _nothing_known, list_pages=3, resume="stale"
    )
    assert [e.external_id for e in found.events] == [f"account:{ids[5]}:created"]
    assert _calls(fake) == ["GET /accounts", f"GET /accounts/{ids[5]}"]
    assert found.resume == ""  # the engine forgets it
