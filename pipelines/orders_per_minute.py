"""Orders per minute by region: the reference pipeline, and the Kafka Streams job it replaces.

Orders are grouped by region into 1-minute tumbling event-time windows with no grace by default and
counted. Each order counts once per window even if an at-least-once source redelivers it. Windowing is
declared once, in `MINUTE` (overridable with the CLI's windowing flags), and the same declaration
runs as a backfill, as a replay of a recorded stream, in TestStream tests and on streaming runners.

    kappa run orders-per-minute --input 'archive/*.avro' --input-format avro --output out/ --mode batch
    kappa run orders-per-minute --input orders.jsonl --output out/ --mode replay --allowed-lateness 30s
"""
from __future__ import annotations

import dataclasses
import operator
from typing import Any, ClassVar, Dict, Mapping, Optional

import apache_beam as beam

from kappa.pipelines.model import MAIN_OUTPUT, TALLY, Input, Output, Pipeline
from kappa.transforms.aggregation import Aggregate, Arrives, WindowedAggregation
from kappa.transforms.distinct_count import DistinctCount, DistinctCountFn, DistinctCountPanes
from kappa.transforms.window_result import FormatWindowResults, WindowFigures
from kappa.transforms.windowing import WindowSpec

MINUTE = WindowSpec(size_ms=60_000, allowed_lateness_ms=0)

# Each order adds its id to its region's window; the set of ids counts a redelivery once.
ORDER_IDS_BY_REGION = WindowedAggregation(
    event_time_ms=operator.attrgetter("event_time"),
    key_value=lambda order: (order.region, order.order_id),
    combine_fn=DistinctCountFn(),
)


@dataclasses.dataclass(frozen=True)
class OrdersPerMinute(Pipeline):
    name: ClassVar[str] = "orders-per-minute"
    description: ClassVar[str] = "orders per region per 1-minute event-time window, redeliveries counted once"
    inputs: ClassVar[Mapping[str, Input]] = {"orders": Input("order", key="order_id")}
    outputs: ClassVar[Mapping[str, Output]] = {
        MAIN_OUTPUT: Output("orders-per-minute", topic="orders-per-minute-by-region",
                            doc="one result per pane: {key, region, window_start, window_end, count, timing, "
                                "is_last}")}
    dead_letter_topic: ClassVar[Optional[str]] = "orders-dead-letter"
    aggregated_input: ClassVar[Optional[str]] = "orders"
    aggregation: ClassVar[Optional[WindowedAggregation]] = ORDER_IDS_BY_REGION

    spec: Optional[WindowSpec] = MINUTE

    def expand(self, streams: Mapping[str, beam.PCollection], arrives: Mapping[str, Arrives]) -> Dict[str, Any]:
        counted = (
            streams["orders"]
            | "Aggregate" >> Aggregate(ORDER_IDS_BY_REGION, self.spec, arrives["orders"])
            | "CountOrdersOnce" >> DistinctCountPanes(self.spec, "orders")
        )
        return {MAIN_OUTPUT: counted.counts | "Format" >> FormatWindowResults("region", _count, self.bounded),
                TALLY: counted.tally}

    def figures(self) -> WindowFigures:
        # "counted": the total's name in the summary since the first release
        return WindowFigures("region", ("count",), self.spec.accumulation, renamed={"count": "counted"})


def _count(value: DistinctCount) -> Dict[str, int]:
    return {"count": value.distinct}


PIPELINE = OrdersPerMinute()
