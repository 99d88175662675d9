"""Surge pricing: per map cell, ride demand against available drivers, and the price multiplier they set.

Two inputs, `requests` (riders asking for a ride) and `drivers` (each driver's app reporting its cell
and status), joined per cell in sliding event-time windows of 5 minutes every minute (`SURGE`,
declared once, overridable with the windowing flags): a full outer join (`WindowJoin`), so a cell
with drivers and no request, or requests and no driver, has its result too. In each cell and window:
- `demand`: distinct request_ids (a redelivery counts once);
- `supply`: distinct driver_ids with at least one `available` location there (busy and offline
  locations count for nothing; a driver who moved counts in each cell it was available in);
- `multiplier_tenths = min(30, max(10, (10 * demand) // max(supply, 1)))`, in integers, so every
  runner and plan gives the same multiplier; `multiplier` is that in tenths.
A window's on-time result comes when the watermark passes its end; with `--early-firing`, early panes
each carry the multiplier of what has arrived so far, and with `--allowed-lateness` late panes correct
it (always accumulating: a multiplier is a whole, not a delta). A backfill gives each window its
final pane once.

Two plans, one definition. A stream, a replay and a backfill of each event (`--per-element`) run the
windowed join. A backfill whose windows are runs of whole slots (fixed windows, or sliding ones whose
size is a multiple of the period: `Slots`) takes the bounded plan (`SurgeOfArchive`): each file
split's ids folded per cell and slot as the reader reads them (`FoldCellSlots`), each cell's slots
grouped, and each window's demand and supply counted from the union of its slots; the same records
(the tests run both plans).

Too late: a record more than the allowed lateness behind the watermark (`BehindWatermark`) goes to
the `late` output; every window holding a record ends after it, so no window drops one silently.

    kappa run surge-pricing --input requests=archive/requests --input drivers=archive/drivers --output out/
    kappa run surge-pricing --mode stream --runner flink --input-topic requests=ride-requests \\
        --input-topic drivers=driver-locations --early-firing 10s
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Any, ClassVar, DefaultDict, Dict, Iterable, Iterator, List, Mapping, Optional, Set, Tuple

import apache_beam as beam
from apache_beam.transforms.window import TimestampedValue

from kappa.pipelines.model import MAIN_OUTPUT, Input, Output, Pipeline
from kappa.transforms.aggregation import Arrives, Fold, FoldEvents, KeyedValues, WindowedAggregation
from kappa.transforms.distinct_count import DistinctCount, DistinctCountFn
from kappa.transforms.window_join import WindowJoin
from kappa.transforms.window_result import FormatWindowResults, window_result
from kappa.transforms.windowing import Accumulation, Slots, WindowKind, WindowSpec, to_timestamp

REQUESTS, DRIVERS = "requests", "drivers"
SURGE = WindowSpec(kind=WindowKind.SLIDING, size_ms=5 * 60_000, period_ms=60_000)
AVAILABLE = "available"
FLOOR_TENTHS, CAP_TENTHS = 10, 30


def multiplier_tenths(demand: int, supply: int) -> int:
    return min(CAP_TENTHS, max(FLOOR_TENTHS, (10 * demand) // max(supply, 1)))


def _request(request: Any) -> Tuple[str, str]:
    return request.cell, request.request_id


def _is_available(location: Any) -> bool:
    return location.status == AVAILABLE


def _driver(location: Any) -> Tuple[str, str]:
    return location.cell, location.driver_id


def _event_time(event: Any) -> int:
    return event.event_time


# What each event of a side contributes to its cell's windows: demand, a request's id; supply, an
# available driver's id.
SIDES = {REQUESTS: WindowedAggregation(_event_time, _request, DistinctCountFn()),
         DRIVERS: WindowedAggregation(_event_time, _driver, DistinctCountFn(), keep=_is_available)}


def _has_any(joined: Tuple[str, Dict[str, DistinctCount]]) -> bool:
    """Flink emits a pane without inputs when a window's end and garbage-collection timers fire together."""
    return any(count.distinct for count in joined[1].values())


def surge_fields(demand: int, supply: int) -> Dict[str, Any]:
    tenths = multiplier_tenths(demand, supply)
    return {"demand": demand, "supply": supply, "multiplier": tenths / 10, "multiplier_tenths": tenths}


def _surge(sides: Dict[str, DistinctCount]) -> Dict[str, Any]:
    return surge_fields(sides[REQUESTS].distinct, sides[DRIVERS].distinct)


CellSlots = Dict[int, Set[str]]  # slot start -> the distinct ids in it, of one cell and side


class FoldCellSlots:
    """A backfill's split of one side -> (cell, (side, {slot start: distinct ids})) per cell in it
    (picklable)."""

    def __init__(self, side: str, slots: Slots):
        self._side = side
        self._slots = slots

    def __call__(self, events: List[Any]) -> Iterator[TimestampedValue]:
        aggregation = SIDES[self._side]
        held: DefaultDict[str, DefaultDict[int, Set[str]]] = collections.defaultdict(lambda: collections.defaultdict(set))
        key_value, keep, slot_of = aggregation.key_value, aggregation.keep, self._slots.start
        for event in events:
            if keep is None or keep(event):
                cell, id_ = key_value(event)
                held[cell][slot_of(event.event_time)].add(id_)
        for cell, slots in held.items():
            yield TimestampedValue((cell, (self._side, dict(slots))), to_timestamp(min(slots)))


class _SurgeOfCell:
    """Bounded plan: a cell's slots of both sides -> the result of every window holding any of them."""

    def __init__(self, spec: WindowSpec, slots: Slots):
        self._size_ms = spec.size_ms
        self._slots = slots

    def __call__(self, grouped: Tuple[str, Iterable[Tuple[str, CellSlots]]]) -> Iterator[Dict[str, Any]]:
        cell, parts = grouped
        merged: Dict[str, CellSlots] = {REQUESTS: {}, DRIVERS: {}}
        for side, slots in parts:
            mine = merged[side]
            for slot, ids in slots.items():
                if slot in mine:
                    mine[slot] = mine[slot] | ids
                else:
                    mine[slot] = ids
        demand, supply = merged[REQUESTS], merged[DRIVERS]
        slot_ms, per_window, none = self._slots.ms, self._slots.per_window, frozenset()
        for start in self._slots.window_starts([*demand, *supply]):
            held = [start + i * slot_ms for i in range(per_window)]
            requests = none.union(*(demand.get(slot, none) for slot in held))
            drivers = none.union(*(supply.get(slot, none) for slot in held))
            yield window_result("cell", cell, start, start + self._size_ms, surge_fields(len(requests), len(drivers)))


class SurgeOfArchive(beam.PTransform):
    """A backfill's folded sides (`FoldCellSlots`) -> results, by the definitions themselves: each cell's
    distinct ids per slot grouped, and each window's demand and supply the unions of its slots. No
    windows, no triggers; the same records as the windowed join (the tests run both)."""

    def __init__(self, spec: WindowSpec, slots: Slots):
        super().__init__()
        self._spec = spec
        self._slots = slots

    def expand(self, sides):
        return ((sides[REQUESTS], sides[DRIVERS])
                | "BothSides" >> beam.Flatten()
                | "GroupByCell" >> beam.GroupByKey()
                | "SurgeOfCell" >> beam.FlatMap(_SurgeOfCell(self._spec, self._slots)).with_output_types(Dict[str, Any]))


@dataclasses.dataclass(frozen=True)
class SurgePricing(Pipeline):
    name: ClassVar[str] = "surge-pricing"
    description: ClassVar[str] = ("ride demand against available drivers per map cell in 5-minute windows every "
                                  "minute, and the surge multiplier (1.0 to 3.0)")
    inputs: ClassVar[Mapping[str, Input]] = {REQUESTS: Input("ride-request", key="request_id"),
                                             DRIVERS: Input("driver-location", key="driver_id")}
    outputs: ClassVar[Mapping[str, Output]] = {
        MAIN_OUTPUT: Output("cell-surge", topic="surge-multipliers",
                            doc="one result per pane: {key, cell, window_start, window_end, demand, supply, "
                                "multiplier, multiplier_tenths, timing, is_last}")}

    spec: Optional[WindowSpec] = SURGE

    def configured(self, spec: Optional[WindowSpec] = None,
                   allowed_lateness_ms: Optional[int] = None) -> "SurgePricing":
        if spec is not None and spec.accumulation is Accumulation.DISCARDING:
            raise ValueError(f"{self.name} reports a multiplier of everything so far in each pane: "
                             "--accumulation discarding does not apply")
        return super().configured(spec, allowed_lateness_ms)

    def fold(self, stream: str) -> Optional[Fold]:
        """A backfill folds its splits for the bounded plan (`SurgeOfArchive`), a stream each read of a
        partition into its side's partials per (cell, slot), where the windows are runs of slots."""
        slots = Slots.of(self.spec)
        if self.bounded:
            return FoldCellSlots(stream, slots) if slots is not None else None
        return FoldEvents(SIDES[stream], self.spec) if SIDES[stream].can_pre_aggregate(self.spec) else None

    def expand(self, streams: Mapping[str, beam.PCollection], arrives: Mapping[str, Arrives]) -> Dict[str, Any]:
        if self.bounded and arrives[REQUESTS] is Arrives.PARTIALS:
            return {MAIN_OUTPUT: streams | "Surge" >> SurgeOfArchive(self.spec, Slots.of(self.spec))}
        sides = {side: streams[side] | f"{side.capitalize()}ByCell" >> KeyedValues(SIDES[side], arrives[side], str)
                 for side in SIDES}
        joined = (sides
                  | "DemandAndSupply" >> WindowJoin(self.spec, {side: SIDES[side].merging(arrives[side]) for side in SIDES})
                  | "DropEmptyPanes" >> beam.Filter(_has_any))
        return {MAIN_OUTPUT: joined | "Format" >> FormatWindowResults("cell", _surge, self.bounded)}


PIPELINE = SurgePricing()
