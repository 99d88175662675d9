"""A keyed event-time aggregation, declared once, fed per element, pre-aggregated, or as played panes.

A pipeline declares what one event contributes (its event time, its key and the value it adds) and
how values combine (a `CombineFn`). `Aggregate` runs that declaration on its input in the form the
runner chose (`Arrives`):
- events: every event through Beam's windowing and `CombinePerKey`. It serves every trigger and
  window kind; the TestStream scenarios run it;
- partials: `WindowPartials` folded the events a reader held at once (a backfill's file split, one
  read of a Kafka partition, a replay's records that arrive together) into one accumulator per (key,
  window) in plain Python, and `Aggregate` merges those accumulators per key and window through the
  same windowing. Beam's per-element machinery (about six fused DoFns, a timestamp object and a
  window assignment per record, and in a stream a trip into Flink's state per record) is what a job
  otherwise spends its time in; this pays it once per read and window instead of once per record;
- panes: a replay on the direct runner played the grouping in process (`kappa.runners.replay_panes`),
  so the panes only pass through.

Pre-aggregation needs windows that never merge and that every event of a slot shares: fixed
windows (a slot is a window), or sliding windows whose size is a multiple of their period (a slot
is a period, in size / period windows; `Slots`); a partial stamped with its slot's start lands in
exactly its events' windows. And no trigger that counts elements. It gives the same on-time and
final results: a read's records reach the windowing together either way, before the reader moves
the watermark. What can differ is how late records are grouped into panes: the late records of one
read come out as one late pane instead of one pane each.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Any, Callable, Dict, Hashable, Iterable, Iterator, List, Optional, Tuple

import apache_beam as beam
from apache_beam.transforms import window

from kappa.transforms.windowing import Slots, WindowSpec, to_timestamp


@dataclasses.dataclass(frozen=True)
class WindowedAggregation:
    """What one event contributes to a keyed windowed aggregate."""

    event_time_ms: Callable[[Any], int]
    key_value: Callable[[Any], Tuple[Hashable, Any]]  # event -> (key, value handed to combine_fn)
    combine_fn: beam.CombineFn
    keep: Optional[Callable[[Any], bool]] = None  # the events that contribute; None: every one

    @staticmethod
    def can_pre_aggregate(spec: WindowSpec) -> bool:
        """Windows of whole slots, and no early firing by element count (see the module's docstring)."""
        return Slots.of(spec) is not None and spec.early_firing_count is None

    def merging(self, arrives: Arrives) -> beam.CombineFn:
        """The combiner of the grouping for the form the input arrives in: partials merge accumulators."""
        return _MergeAccumulators(self.combine_fn) if arrives is Arrives.PARTIALS else self.combine_fn


# An element as the grouping receives it: (element, its event time in ms) -> (key, value, event time in ms).
Grouped = Callable[[Any, int], Tuple[Hashable, Any, int]]


def grouping_of(aggregation: WindowedAggregation, pre_aggregated: bool) -> Tuple[Grouped, beam.CombineFn]:
    """What the `CombinePerKey` of each plan groups, and with which combiner: events keyed by
    `key_value` at their event time, or (key, accumulator) partials at their window's start merged."""
    if pre_aggregated:
        return _partial_as_grouped, aggregation.merging(Arrives.PARTIALS)

    def event_as_grouped(event: Any, _: int) -> Tuple[Hashable, Any, int]:
        key, value = aggregation.key_value(event)
        return key, value, aggregation.event_time_ms(event)
    return event_as_grouped, aggregation.combine_fn


def _partial_as_grouped(partial: Tuple[Hashable, Any], start_ms: int) -> Tuple[Hashable, Any, int]:
    return partial[0], partial[1], start_ms


class Arrives(enum.Enum):
    """The form in which an aggregated input reaches its pipeline."""

    EVENTS = "events"  # valid events, timestamped with their event time
    PARTIALS = "partials"  # (key, accumulator) partials folded by the reader (`FoldEvents`)
    PANES = "panes"  # (key, combined output) per pane: the grouping was played before the job (replay)


class Aggregate(beam.PTransform):
    """An aggregated input, in whichever form it arrives -> (key, combined output) per pane of each
    (key, window), as the spec fires them: the same panes from every form."""

    def __init__(self, aggregation: WindowedAggregation, spec: WindowSpec, arrives: Arrives):
        super().__init__()
        self._aggregation = aggregation
        self._spec = spec
        self._arrives = arrives

    def expand(self, pcoll):
        if self._arrives is Arrives.PANES:
            return pcoll
        return (pcoll
                | "KeyValue" >> KeyedValues(self._aggregation, self._arrives)
                | "Window" >> self._spec.window_into()
                | "Combine" >> beam.CombinePerKey(self._aggregation.merging(self._arrives)))


class KeyedValues(beam.PTransform):
    """Events or partials of an aggregated input -> (key, value) for `aggregation.merging(arrives)`: each
    contributing event's `key_value`, or the partials as they are; typed Tuple[key_type, Any] when
    `key_type` is given (a join checks its sides' key types), else as inferred."""

    def __init__(self, aggregation: WindowedAggregation, arrives: Arrives, key_type: Optional[type] = None):
        super().__init__()
        self._aggregation = aggregation
        self._arrives = arrives
        self._key_type = key_type

    def expand(self, pcoll):
        if self._arrives is not Arrives.PARTIALS:
            if self._aggregation.keep is not None:
                pcoll = pcoll | "Keep" >> beam.Filter(self._aggregation.keep)
            pcoll = pcoll | "KeyValue" >> beam.Map(self._aggregation.key_value)
        if self._key_type is not None:
            pcoll.element_type = beam.typehints.Tuple[self._key_type, beam.typehints.Any]
        return pcoll


class WindowPartials:
    """Events folded into one accumulator per (key, slot of their windows), in plain Python.

    Values are gathered per (key, window) and handed to `CombineFn.add_inputs` once, so a combiner
    that can take a batch (a set update, a sum) does so.
    """

    def __init__(self, aggregation: WindowedAggregation, spec: WindowSpec):
        if not aggregation.can_pre_aggregate(spec):
            raise ValueError(f"cannot pre-aggregate {spec.describe()}: fixed windows, or sliding windows a "
                             "multiple of their period, without early firing by count only")
        self._aggregation = aggregation
        self._slot_of = Slots.of(spec).start
        self._values: Dict[Tuple[Hashable, int], List[Any]] = {}

    def add_all(self, events: Iterable[Any]) -> int:
        """Folds the events in; returns how many there were."""
        event_time_ms, key_value = self._aggregation.event_time_ms, self._aggregation.key_value
        slot_of, keep, table = self._slot_of, self._aggregation.keep, self._values
        count = 0
        for event in events:
            count += 1
            if keep is not None and not keep(event):
                continue
            key, value = key_value(event)
            slot = (key, slot_of(event_time_ms(event)))
            values = table.get(slot)
            if values is None:
                values = table[slot] = []
            values.append(value)
        return count

    def partials(self) -> Iterator[window.TimestampedValue]:
        """(key, accumulator), stamped with its slot's start so the window function puts it in its windows."""
        combine_fn = self._aggregation.combine_fn
        for (key, start_ms), values in self._values.items():
            accumulator = combine_fn.add_inputs(combine_fn.create_accumulator(), values)
            yield window.TimestampedValue((key, accumulator), to_timestamp(start_ms))
        self._values = {}


# What a reader that holds many events at once hands on in their place (`Pipeline.fold`).
Fold = Callable[[List[Any]], Iterable[window.TimestampedValue]]


class FoldEvents:
    """events -> their partials, for a reader that holds a batch of events at once (picklable)."""

    def __init__(self, aggregation: WindowedAggregation, spec: WindowSpec):
        self._aggregation = aggregation
        self._spec = spec

    def __call__(self, events: Iterable[Any]) -> Iterator[window.TimestampedValue]:
        partials = WindowPartials(self._aggregation, self._spec)
        partials.add_all(events)
        return partials.partials()


class _MergeAccumulators(beam.CombineFn):
    """A CombineFn whose inputs are the accumulators of another."""

    def __init__(self, combine_fn: beam.CombineFn):
        self._fn = combine_fn

    def create_accumulator(self):
        return self._fn.create_accumulator()

    def add_input(self, accumulator, partial):
        return self._fn.merge_accumulators([accumulator, partial])

    def merge_accumulators(self, accumulators):
        return self._fn.merge_accumulators(accumulators)

    def compact(self, accumulator):
        return self._fn.compact(accumulator)

    def extract_output(self, accumulator):
        return self._fn.extract_output(accumulator)
