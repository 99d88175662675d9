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

Too late: a record more than the allowed lateness behind the watermark (`BehindWatermark`) goes to
the `late` output; every window holding a record ends after it, so no window drops one silently.

    kappa run surge-pricing --input requests=archive/requests --input drivers=archive/drivers --output out/
    kappa run surge-pricing --mode stream --runner flink --input-topic requests=ride-requests \\
        --input-topic drivers=driver-locations --early-firing 10s
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple

import apache_beam as beam

from kappa.pipelines.model import MAIN_OUTPUT, Input, Output, Pipeline
from kappa.transforms.aggregation import Arrives
from kappa.transforms.distinct_count import DistinctCount, DistinctCountFn
from kappa.transforms.window_join import WindowJoin
from kappa.transforms.window_result import FormatWindowResults
from kappa.transforms.windowing import Accumulation, WindowKind, WindowSpec

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


def _has_any(joined: Tuple[str, Dict[str, DistinctCount]]) -> bool:
    """Flink emits a pane without inputs when a window's end and garbage-collection timers fire together."""
    return any(count.distinct for count in joined[1].values())


def _surge(sides: Dict[str, DistinctCount]) -> Dict[str, Any]:
    demand, supply = sides[REQUESTS].distinct, sides[DRIVERS].distinct
    tenths = multiplier_tenths(demand, supply)
    return {"demand": demand, "supply": supply, "multiplier": tenths / 10, "multiplier_tenths": tenths}


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

    def expand(self, streams: Mapping[str, beam.PCollection], arrives: Mapping[str, Arrives]) -> Dict[str, Any]:
        keyed = Tuple[str, str]
        demand = streams[REQUESTS] | "ByCell" >> beam.Map(_request).with_output_types(keyed)
        supply = (streams[DRIVERS]
                  | "Available" >> beam.Filter(_is_available)
                  | "DriverByCell" >> beam.Map(_driver).with_output_types(keyed))
        joined = ({REQUESTS: demand, DRIVERS: supply}
                  | "DemandAndSupply" >> WindowJoin(self.spec, {REQUESTS: DistinctCountFn(), DRIVERS: DistinctCountFn()})
                  | "DropEmptyPanes" >> beam.Filter(_has_any))
        return {MAIN_OUTPUT: joined | "Format" >> FormatWindowResults("cell", _surge, self.bounded)}


PIPELINE = SurgePricing()
