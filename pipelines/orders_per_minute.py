"""Orders per minute by region: the reference pipeline, and the Kafka Streams job it replaces.

Orders are grouped by region into 1-minute tumbling event-time windows with no grace by default and
counted. Each order counts once per window even if an at-least-once source redelivers it. Windowing is
declared once, in `DEFAULT_SPEC` (overridable with the CLI's windowing flags), and the same declaration
runs as a backfill, as a replay of a recorded stream, in TestStream tests and on streaming runners.

    kappa run orders-per-minute --input 'archive/*.avro' --input-format avro --output out/ --mode batch
    kappa run orders-per-minute --input orders.jsonl --output out/ --mode replay --allowed-lateness 30s
"""
from __future__ import annotations

import operator

import apache_beam as beam

from kappa.io.orders import SUBJECT, Order
from kappa.pipelines.registry import PipelineDefinition, register
from kappa.transforms.aggregation import WindowedAggregation
from kappa.transforms.distinct_count import DistinctCountFn, DistinctCountPanes
from kappa.transforms.window_result import FormatWindowResults
from kappa.transforms.windowing import WindowSpec

DEFAULT_SPEC = WindowSpec(size_ms=60_000, allowed_lateness_ms=0)

# Each order adds its id to its region's window; the set of ids counts a redelivery once.
ORDER_IDS_BY_REGION = WindowedAggregation(
    event_time_ms=operator.attrgetter("event_time"),
    key_value=lambda order: (order.region, order.order_id),
    combine_fn=DistinctCountFn(),
)


class OrderCounts(beam.PTransform):
    """(region, DistinctCount) per pane -> window results `{"key", "region", "window_start",
    "window_end", "count", "timing", "is_last"}`."""

    def __init__(self, spec: WindowSpec):
        super().__init__()
        self._spec = spec

    def expand(self, totals):
        return (
            totals
            | "CountOrdersOnce" >> DistinctCountPanes(self._spec)
            | "Format" >> FormatWindowResults(key_field="region", value_field="count")
        )


ORDERS_PER_MINUTE = PipelineDefinition(
    name="orders-per-minute",
    event_type=Order,
    default_spec=DEFAULT_SPEC,
    description="orders per region per 1-minute event-time window, redeliveries counted once",
    aggregation=ORDER_IDS_BY_REGION,
    results=OrderCounts,
    key_field="region",
    value_field="count",
    input_subject=SUBJECT,
)
register(ORDERS_PER_MINUTE)
