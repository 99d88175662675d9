"""Event contracts by subject: the record type and the parser of each (interim: the order contract)."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional, Tuple

from kappa.io import orders
from kappa.io.schema_registry import SchemaRegistry


@dataclasses.dataclass(frozen=True)
class Contract:
    subject: str
    schema: dict
    record_type: type
    event_time_field: str
    fields: Tuple[str, ...]

    def parser(self, max_event_time_skew_ms: int = orders.DEFAULT_MAX_EVENT_TIME_SKEW_MS,
               clock: Callable[[], float] = time.time) -> orders.OrderParser:
        return orders.OrderParser(max_event_time_skew_ms, clock)


def contract(subject: str, registry: Optional[SchemaRegistry] = None) -> Contract:
    if subject != orders.SUBJECT:
        raise KeyError(f"no event contract for subject {subject!r}")
    schema = (registry or SchemaRegistry()).latest(subject)
    return Contract(subject, schema, orders.Order, "event_time", orders.Order._fields)
