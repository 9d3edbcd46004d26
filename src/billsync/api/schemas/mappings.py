"""Id mappings."""

from __future__ import annotations

from pydantic import BaseModel

from billsync.app.mappings import MappingInfo


class MappingPublic(BaseModel):
    id: int
    kind: str
    togai_id: str
    razorpay_id: str
    run_id: int | None

    @classmethod
    def of(cls, m: MappingInfo) -> MappingPublic:
        return cls(
            id=m.id,
            kind=m.kind.value,
            togai_id=m.togai_id,
            razorpay_id=m.razorpay_id,
            run_id=m.run_id,
        )
