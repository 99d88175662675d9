"""Live sales by region: what a dashboard shows while the minute is still going on.

Orders are grouped by region into 1-minute event-time windows; each window counts its distinct orders
and sums their revenue. A dashboard wants numbers before the minute is over, so the window fires an
early pane every 5 s of processing time, each repeating the whole result so far (accumulating), its
on-time pane when the watermark passes the minute's end, and a late pane for each late order within
5 minutes of allowed lateness. A redelivered order counts once and adds its amount once; amounts are
summed exactly and rounded to cents once, when the result is written, so every runner and plan
agrees to the cent. A backfill gives each window its final value once.

    kappa run live-sales --input 'archive/*.avro' --output out/
    kappa run live-sales --mode stream --runner flink --input-topic orders --output-topic live-sales
"""
from __future__ import annotations

import dataclasses
import operator
from typing import Any, ClassVar, Dict, Mapping, Optional

import apache_beam as beam

from kappa.pipelines.model import MAIN_OUTPUT, TALLY, Input, Output, Pipeline
from kappa.transforms.aggregation import Aggregate, Arrives, WindowedAggregation
from kappa.transforms.distinct_count import DistinctCountPanes, DistinctSum, DistinctSumFn
from kappa.transforms.window_result import FormatWindowResults, WindowFigures
from kappa.transforms.windowing import WindowSpec

DASHBOARD_MINUTE = WindowSpec(size_ms=60_000, allowed_lateness_ms=300_000, early_firing_delay_ms=5_000)

# Each order adds (its id, its amount) to its region's window; a redelivery replaces itself.
SALES_BY_REGION = WindowedAggregation(
    event_time_ms=operator.attrgetter("event_time"),
    key_value=lambda order: (order.region, (order.order_id, order.amount)),
    combine_fn=DistinctSumFn(),
)


@dataclasses.dataclass(frozen=True)
class LiveSales(Pipeline):
    name: ClassVar[str] = "live-sales"
    description: ClassVar[str] = ("orders and revenue per region per 1-minute event-time window, early panes "
                                  "every 5 s for a dashboard")
    inputs: ClassVar[Mapping[str, Input]] = {"orders": Input("order", key="order_id")}
    outputs: ClassVar[Mapping[str, Output]] = {
        MAIN_OUTPUT: Output("region-minute-sales", topic="live-sales-by-region",
                            doc="one result per pane: {key, region, window_start, window_end, orders, revenue, "
                                "timing, is_last}")}
    aggregated_input: ClassVar[Optional[str]] = "orders"
    aggregation: ClassVar[Optional[WindowedAggregation]] = SALES_BY_REGION

    spec: Optional[WindowSpec] = DASHBOARD_MINUTE

    def expand(self, streams: Mapping[str, beam.PCollection], arrives: Mapping[str, Arrives]) -> Dict[str, Any]:
        summed = (
            streams["orders"]
            | "Aggregate" >> Aggregate(SALES_BY_REGION, self.spec, arrives["orders"])
            | "SumOrdersOnce" >> DistinctCountPanes(self.spec, "orders")
        )
        return {MAIN_OUTPUT: summed.counts | "Format" >> FormatWindowResults("region", _sales, self.bounded),
                TALLY: summed.tally}

    def figures(self) -> WindowFigures:
        return WindowFigures("region", ("orders", "revenue"), self.spec.accumulation)


def _sales(value: DistinctSum) -> Dict[str, Any]:
    return {"orders": value.distinct, "revenue": value.cents / 100}


PIPELINE = LiveSales()
