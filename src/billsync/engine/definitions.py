"""Parsed flow versions, remembered by their version stamp.

A flow version is never changed once written (an edit adds a version), so neither is its
parse: intake (for every enabled flow, on every event) and the runner (once per run) used
to load and validate the same JSON again and again. The key is the version row's
(id, created_at) stamp rather than (flow id, version), so a deleted flow whose ids are
reused never lends its definition to the new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billsync import errors
from billsync.engine.flow import FlowDefinition, parse_flow
from billsync.store.flows import VersionStamp

#: Parsed versions kept (oldest dropped first); a deployment has a handful of flows.
MAX_DEFINITIONS = 256


class DefinitionCache:
    def __init__(self, limit: int = MAX_DEFINITIONS) -> None:
        self._limit = limit
        self._parsed: dict[VersionStamp, FlowDefinition | str] = {}

    def get(self, stamp: VersionStamp) -> FlowDefinition | str | None:
        """The definition, or why it is invalid (a message); None when not cached."""
        return self._parsed.get(stamp)

    def parse(self, stamp: VersionStamp, raw: Mapping[str, Any]) -> FlowDefinition | str:
        parsed: FlowDefinition | str
        try:
            parsed = parse_flow(raw)
        except errors.FlowError as exc:
            parsed = exc.message
        if len(self._parsed) >= self._limit:
            self._parsed.pop(next(iter(self._parsed)))
        self._parsed[stamp] = parsed
        return parsed
