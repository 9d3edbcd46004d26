"""In-memory Togai state: one ordered collection per entity type."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

Record = dict[str, Any]


class Collection:
    """Records by id, in creation order; the order number backs pagination tokens.

    Records are never removed one by one, so `_keys`/`_positions` (creation order, positions
    ascending) let a page start where the last one ended instead of scanning from the top.
    """

    def __init__(self) -> None:
        self.items: dict[str, Record] = {}
        self._keys: list[str] = []
        self._positions: list[int] = []
        self._next = 0

    def clear(self) -> None:
        self.items.clear()
        self._keys.clear()
        self._positions.clear()

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def __len__(self) -> int:
        return len(self.items)

    def get(self, key: str) -> Record | None:
        return self.items.get(key)

    def add(self, key: str, record: Record) -> None:
        self._next += 1
        if key not in self.items:
            self._keys.append(key)
            self._positions.append(self._next)
        self.items[key] = record

    def values(self) -> Iterator[Record]:
        return iter(self.items.values())

    def page(
        self, after: int, size: int, keep: Callable[[Record], bool]
    ) -> tuple[list[Record], int, bool]:
        """Up to `size` kept records after position `after`: (records, last position, more?)."""
        found: list[Record] = []
        last = after
        keys, positions, items = self._keys, self._positions, self.items
        for index in range(bisect_right(positions, after), len(keys)):
            record = items[keys[index]]
            if not keep(record):
                continue
            if len(found) == size:
                return found, last, True
            found.append(record)
            last = positions[index]
        return found, last, False


class TogaiStore:
    def __init__(self) -> None:
        self.customers = Collection()
        self.accounts = Collection()
        self.settings = Collection()  # keyed by the full setting id
        self.invoices = Collection()
        self.payments = Collection()
        self.settings_by_entity: dict[tuple[str, str], dict[str, Record]] = {}
        # Custom invoices: line items (not part of the Invoice model) and idempotency keys.
        self.invoice_lines: dict[str, list[Record]] = {}
        self.idempotency_keys: dict[str, str] = {}
        self.payment_references: set[tuple[str, str]] = set()
        self.invoice_sequence = 0

    def clear(self) -> None:
        """Empty everything in place (routes hold references to the collections)."""
        for collection in (
            self.customers,
            self.accounts,
            self.settings,
            self.invoices,
            self.payments,
        ):
            collection.clear()
        self.settings_by_entity.clear()
        self.invoice_lines.clear()
        self.idempotency_keys.clear()
        self.payment_references.clear()
        self.invoice_sequence = 0

    def counts(self) -> dict[str, int]:
        return {
            "customers": len(self.customers),
            "accounts": len(self.accounts),
            "settings": len(self.settings),
            "invoices": len(self.invoices),
            "payments": len(self.payments),
        }

    def put_setting(self, full_id: str, setting: Record) -> None:
        if full_id not in self.settings:
            self.settings.add(full_id, setting)
        else:
            self.settings.items[full_id] = setting
        entity = (setting["entityType"], setting["entityId"])
        self.settings_by_entity.setdefault(entity, {})[full_id] = setting

    def entity_settings(self, entity_type: str, entity_id: str) -> list[Record]:
        return list(self.settings_by_entity.get((entity_type, entity_id), {}).values())

    def amount_due(self, invoice: Record) -> Decimal:
        return Decimal(invoice["totalAmount"]) - Decimal(invoice["paidAmount"])
