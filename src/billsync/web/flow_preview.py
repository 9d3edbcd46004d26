"""Preview a flow from the wizard: each action's resolved input and dry-run output.

app/flow_admin.preview does the walk (writes are never sent); this module picks the event
to preview against: the JSON the user typed, else the latest stored event of the flow's
trigger, else a built-in sample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from billsync import errors
from billsync.app import connections as connection_ops
from billsync.app import events as event_ops
from billsync.app import flow_admin
from billsync.app import flows as flow_ops
from billsync.engine import preview
from billsync.engine.flow import FlowDefinition
from billsync.web import samples
from billsync.web.ui import Ui

#: Stored events scanned for the latest one of the chosen trigger.
_SCAN = 200


@dataclass(frozen=True)
class PreviewResult:
    result: preview.FlowPreview
    event: dict[str, Any]
    source: str  #: where the event came from, shown above the steps


class SampleEventError(errors.FlowError):
    """The sample event is not a JSON object."""


async def pick_event(ui: Ui, defn: FlowDefinition, typed: str) -> tuple[dict[str, Any], str]:
    if typed:
        try:
            event = json.loads(typed)
        except ValueError as exc:
            raise SampleEventError(
                f"the sample event is not valid JSON: {exc}", field="sample_event"
            ) from None
        if not isinstance(event, dict):
            raise SampleEventError("the sample event must be a JSON object", field="sample_event")
        return event, "the sample event you entered"
    connection_id = int(defn.trigger.connection_id)
    connection = await connection_ops.get(ui.app, connection_id)
    recent = await event_ops.list_events(ui.app, connection_id=connection_id, limit=_SCAN)
    for stored in recent:
        if stored.trigger == defn.trigger.trigger:
            return dict(stored.payload), f"the latest stored {stored.trigger} event (#{stored.id})"
    app_name = connection.app if connection else ""
    return samples.sample(app_name, defn.trigger.trigger), "a built-in sample event"


async def run(ui: Ui, defn: FlowDefinition, typed_event: str) -> PreviewResult:
    """Validate and dry-run `defn`; raises FlowError when it is invalid."""
    await flow_ops.validate(ui.app, defn)
    event, source = await pick_event(ui, defn, typed_event)
    result = await flow_admin.preview(ui.app, defn, payload=event)
    return PreviewResult(result=result, event=event, source=source)
