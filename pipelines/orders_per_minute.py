"""Orders per minute by region: the reference pipeline, and the Kafka Streams job it replaces.

Orders are grouped by region into 1-minute tumbling event-time windows with no grace by default and
counted. Each order counts once per window even if an at-least-once source redelivers it. Windowing is
declared once, in `DEFAULT_SPEC` (overridable with the CLI's windowing flags), and the same transform
runs as a backfill, as a replay of a recorded stream, in TestStream tests and on streaming runners.

    kappa run orders-per-minute --input 'archive/*.avro' --input-format avro --output out/ --mode batch
    kappa run orders-per-minute --input orders.jsonl --output out/ --mode replay --allowed-lateness 30s
"""
from __future__ import annotations

from typing import Tuple

import apache_beam as beam

from kappa.io.orders import Order
from kappa.pipelines.registry import PipelineDefinition, register
from kappa.transforms.distinct_count import CountDistinctPerKey
from kappa.transforms.window_result import FormatWindowResults
from kappa.transforms.windowing import ApplyWindowing, WindowSpec

DEFAULT_SPEC = WindowSpec(size_ms=60_000, allowed_lateness_ms=0)


class OrdersPerMinute(beam.PTransform):
    """Valid `Order`s -> window results `{"key", "region", "window_start", "window_end", "count",
    "timing", "is_last"}`, one per pane of each (region, window)."""

    def __init__(self, spec: WindowSpec = DEFAULT_SPEC):
        super().__init__()
        self._spec = spec

    def expand(self, orders):
        return (
            orders
            | "Windowing" >> ApplyWindowing(self._spec, event_time_ms=lambda o: o.event_time)
            | "ByRegion" >> beam.Map(lambda o: (o.region, o.order_id)).with_output_types(Tuple[str, str])
            | "CountOrdersOnce" >> CountDistinctPerKey(self._spec)
            | "Format" >> FormatWindowResults(key_field="region", value_field="count")
        )


register(
    PipelineDefinition(
        name="orders-per-minute",
        event_type=Order,
        default_spec=DEFAULT_SPEC,
        description="orders per region per 1-minute event-time window, redeliveries counted once",
        transform=OrdersPerMinute,
        key_field="region",
        value_field="count",
    )
)
