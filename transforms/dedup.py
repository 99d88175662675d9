"""Deduplicate records by id within a retention: a redelivered payment counts once.

`Deduplicate(id_field, retention_ms)`: PCollection[T] -> `DedupResult(unique, duplicates)`, both
PCollection[T] (a NamedTuple of PCollections, so a pipeline names what it takes: `result.unique`).
The first arrival of an id passes to `unique`; a later arrival of the same id while the id is
remembered goes to `duplicates`. Elements keep their timestamps (event time) and their window.

Each id remembers the latest event time it arrived with, and an event-time timer clears it once the
watermark has passed that time + `retention_ms` (`kappa.transforms.keyed_state`). The pipeline passes
a retention of at least its allowed lateness: a redelivery repeats its record's event time, so once
the id is forgotten, a redelivery would be more than the allowed lateness behind the watermark and the
runner has already diverted it as too late. What passes after the retention is a new record that
reuses the id with a later event time.

In a bounded run (batch) no timer fires before the input is read, so an id is remembered for the
whole input, and which of two records with the same id is the first is the runner's order.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Tuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.coders import VarIntCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer

from kappa.transforms import keyed_state

DUPLICATES = "duplicates"


class DedupResult(NamedTuple):
    unique: beam.PCollection
    duplicates: beam.PCollection


class _FirstArrival(beam.DoFn):
    """(id, element) -> the element, tagged `duplicates` when its id is remembered."""

    LATEST = ReadModifyWriteStateSpec("latest", VarIntCoder())  # the id's latest event time
    FORGET = TimerSpec("forget", TimeDomain.WATERMARK)

    def __init__(self, retention_ms: int):
        self._retention_ms = retention_ms

    def process(self, keyed: Tuple[Any, Any], latest=beam.DoFn.StateParam(LATEST),
                forget=beam.DoFn.TimerParam(FORGET)):
        element = keyed[1]
        event_time = element.event_time
        seen = latest.read()
        yield element if seen is None else pvalue.TaggedOutput(DUPLICATES, element)
        if seen is None or event_time > seen:
            latest.write(event_time)
            keyed_state.fire_after(forget, event_time + self._retention_ms)

    @on_timer(FORGET)
    def forget(self, latest=beam.DoFn.StateParam(LATEST)):
        latest.clear()


class Deduplicate(beam.PTransform):
    """PCollection[T] -> DedupResult(unique, duplicates); T a NamedTuple record type with `id_field`
    and `event_time` (epoch ms), checked when the pipeline is built (TypeError)."""

    def __init__(self, id_field: str, retention_ms: int):
        super().__init__()
        if retention_ms < 0:
            raise ValueError(f"Deduplicate retention must not be negative, got {retention_ms}")
        self._id_field = id_field
        self._retention_ms = retention_ms

    def expand(self, records: beam.PCollection) -> DedupResult:
        where = f"Deduplicate by {self._id_field!r}: the input"
        id_type = keyed_state.record_field_type(records, self._id_field, where, "id field")
        keyed_state.require_deterministic_key(id_type, where)
        element_type, id_field = records.element_type, self._id_field
        outputs = (
            records
            | "ById" >> beam.Map(lambda r: (getattr(r, id_field), r)).with_output_types(Tuple[id_type, element_type])
            | "FirstArrival" >> beam.ParDo(_FirstArrival(self._retention_ms)).with_outputs(DUPLICATES, main="unique")
        )
        result = DedupResult(outputs.unique, outputs[DUPLICATES])
        for pcoll in result:  # Beam types a tagged output Any
            pcoll.element_type = element_type
        return result
