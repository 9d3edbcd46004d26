"""Engine fixtures: the harness over the migrated database of tests/integration/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from billsync.clock import FakeClock
from billsync.store.database import Database
from billsync.store.vault import Vault
from tests.integration.engine.harness import Harness, harness_for


@pytest.fixture
async def h(db: Database, clock: FakeClock, vault: Vault) -> AsyncIterator[Harness]:
    harness = await harness_for(db, clock, vault).setup()
    try:
        yield harness
    finally:
        await harness.close()
