"""Event-time scenarios as data: input events, watermark and processing-time steps, and the exact panes.

Each scenario is run by `test_event_time.py` on every runner that executes TestStream; the next runner
(Flink) takes the same list. Times are written in seconds for reading; events are (region, order_id,
event time), windows are 1 minute unless the scenario's spec says otherwise.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Optional, Tuple

import apache_beam as beam
import pytest

from kappa.io.orders import Order
from kappa.io.replay import AddElements, AdvanceProcessingTime, AdvanceWatermark, Step
from kappa.pipelines import orders_per_minute
from kappa.pipelines.model import MAIN_OUTPUT, Pipeline
from kappa.transforms.aggregation import Arrives
from kappa.transforms.windowing import Accumulation, WindowKind, WindowSpec


class MainOutput(beam.PTransform):
    """A pipeline of one input as a source feeds it, with `spec`: its input, arriving as `arrives`
    (events, folded partials or played panes) -> its main output."""

    def __init__(self, pipeline: Pipeline, spec: WindowSpec, arrives: Arrives = Arrives.EVENTS):
        super().__init__()
        [self._input] = pipeline.inputs
        self._transform = pipeline.configured(spec=spec).transform({self._input: arrives})

    def expand(self, pcoll):
        return ({self._input: pcoll} | self._transform)[MAIN_OUTPUT]


class OrdersPerMinute(MainOutput):
    def __init__(self, spec: WindowSpec, arrives: Arrives = Arrives.EVENTS):
        super().__init__(orders_per_minute.PIPELINE, spec, arrives)


def orders(*events: Tuple) -> AddElements:
    """Orders arriving together: (region, order_id, event time in seconds[, amount, 10.0 if not given])."""
    elements = []
    for region, order_id, seconds, *amount in events:
        event_time = round(seconds * 1000)
        order = Order(order_id=order_id, region=region, amount=amount[0] if amount else 10.0, event_time=event_time)
        elements.append((order, event_time))
    return AddElements(tuple(elements))


def watermark(seconds: float) -> AdvanceWatermark:
    return AdvanceWatermark(round(seconds * 1000))


def processing_time(seconds: float) -> AdvanceProcessingTime:
    return AdvanceProcessingTime(round(seconds * 1000))


def as_final(pane: dict) -> dict:
    """A window's pane as a backfill gives the window's final result: on time and last."""
    return {**pane, "timing": "ON_TIME", "is_last": True}


def last_panes(panes: Iterable[dict]) -> Tuple[dict, ...]:
    """The last of each window's panes (by `key`), as a backfill gives it (`as_final`)."""
    return tuple({pane["key"]: as_final(pane) for pane in panes}.values())


def pane(region: str, start_s: float, end_s: float, count: int, timing: str, is_last: bool) -> dict:
    start, end = round(start_s * 1000), round(end_s * 1000)
    return {"key": f"{region}:{start}", "region": region, "window_start": start, "window_end": end,
            "count": count, "timing": timing, "is_last": is_last}


# Where Flink genuinely differs, one line each. Beam's model closes a window that has allowed lateness
# with a final pane when it expires (Python's windowing strategy says EMIT_ALWAYS): Flink emits it, marked
# is_last; Beam Python's direct runner emits none and never marks a pane last.
FLINK_CLOSING_PANE = "Flink emits the closing pane at window expiry (EMIT_ALWAYS); the direct runner does not"
FLINK_ON_TIME_IS_LAST = "the watermark passes end and expiry in one step, so Flink's on-time pane is the last"
FLINK_LATE_OPENS_ON_TIME = "Flink labels the first pane of a window that late data opens ON_TIME; the direct runner, LATE"
FLINK_NO_PROCESSING_TIME = "Flink's TestStream cannot advance processing time (the runner refuses it)"


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    spec: WindowSpec
    steps: Tuple[Step, ...]
    expected: Tuple[dict, ...]
    on_flink: Optional[Tuple[dict, ...]] = None  # None: the same panes as `expected`
    flink_why: Optional[str] = None  # set with on_flink
    flink_skip: Optional[str] = None  # why Flink cannot run it


def expected_panes(scenario: Scenario, runner: str) -> list:
    """The panes a scenario expects on a runner; on Flink, skipped where it cannot run it."""
    if runner != "flink":
        return list(scenario.expected)
    if scenario.flink_skip:
        pytest.skip(scenario.flink_skip)
    return list(scenario.on_flink or scenario.expected)


MINUTE = WindowSpec()
LATENESS_60S = WindowSpec(allowed_lateness_ms=60_000)

SCENARIOS = (
    Scenario(
        "in_order",
        MINUTE,
        (orders(("eu", "o1", 10), ("eu", "o2", 20)), watermark(30), orders(("us", "o3", 61)), watermark(120)),
        (pane("eu", 0, 60, 2, "ON_TIME", True), pane("us", 60, 120, 1, "ON_TIME", True)),
    ),
    Scenario(
        "out_of_order_within_window",
        MINUTE,
        (orders(("eu", "o1", 50)), watermark(45), orders(("eu", "o2", 10), ("eu", "o3", 30)), watermark(60)),
        (pane("eu", 0, 60, 3, "ON_TIME", True),),
    ),
    Scenario(
        "late_within_lateness_accumulating",
        LATENESS_60S,
        (orders(("eu", "o1", 10)), watermark(70), orders(("eu", "o2", 20)), watermark(80),
         orders(("eu", "o3", 30))),
        (pane("eu", 0, 60, 1, "ON_TIME", False), pane("eu", 0, 60, 2, "LATE", False),
         pane("eu", 0, 60, 3, "LATE", False)),
        on_flink=(pane("eu", 0, 60, 1, "ON_TIME", False), pane("eu", 0, 60, 2, "LATE", False),
                  pane("eu", 0, 60, 3, "LATE", False), pane("eu", 0, 60, 3, "LATE", True)),
        flink_why=FLINK_CLOSING_PANE,
    ),
    Scenario(
        "late_within_lateness_discarding",
        dataclasses.replace(LATENESS_60S, accumulation=Accumulation.DISCARDING),
        (orders(("eu", "o1", 10), ("eu", "o2", 15)), watermark(70), orders(("eu", "o3", 20)), watermark(80),
         orders(("eu", "o4", 30))),
        (pane("eu", 0, 60, 2, "ON_TIME", False), pane("eu", 0, 60, 1, "LATE", False),
         pane("eu", 0, 60, 1, "LATE", False)),
        on_flink=(pane("eu", 0, 60, 2, "ON_TIME", False), pane("eu", 0, 60, 1, "LATE", False),
                  pane("eu", 0, 60, 1, "LATE", False), pane("eu", 0, 60, 0, "LATE", True)),
        flink_why=FLINK_CLOSING_PANE,
    ),
    Scenario(
        "too_late_is_dropped",
        WindowSpec(allowed_lateness_ms=30_000),
        (orders(("eu", "o1", 10)), watermark(100), orders(("eu", "o2", 20), ("eu", "o3", 110)), watermark(200)),
        (pane("eu", 0, 60, 1, "ON_TIME", False), pane("eu", 60, 120, 1, "ON_TIME", False)),
        on_flink=(pane("eu", 0, 60, 1, "ON_TIME", True), pane("eu", 60, 120, 1, "ON_TIME", True)),
        flink_why=FLINK_ON_TIME_IS_LAST,
    ),
    Scenario(
        "late_without_lateness_is_dropped",
        MINUTE,
        (orders(("eu", "o1", 10)), watermark(61), orders(("eu", "o2", 59.999))),
        (pane("eu", 0, 60, 1, "ON_TIME", True),),
    ),
    Scenario(
        "early_firings_by_count",
        WindowSpec(early_firing_count=2),
        (orders(("eu", "o1", 1), ("eu", "o2", 2)), watermark(10), orders(("eu", "o3", 3)), watermark(60)),
        (pane("eu", 0, 60, 2, "EARLY", False), pane("eu", 0, 60, 3, "ON_TIME", True)),
    ),
    Scenario(
        "early_firings_by_processing_time",
        WindowSpec(early_firing_delay_ms=10_000),
        (orders(("eu", "o1", 5)), watermark(5), processing_time(11), orders(("eu", "o2", 15)), watermark(60)),
        (pane("eu", 0, 60, 1, "EARLY", False), pane("eu", 0, 60, 2, "ON_TIME", True)),
        flink_skip=FLINK_NO_PROCESSING_TIME,
    ),
    Scenario(
        "session_windows_merge",
        WindowSpec(kind=WindowKind.SESSION, size_ms=30_000),
        (orders(("eu", "o1", 0), ("eu", "o2", 50)), watermark(10), orders(("eu", "o3", 25)),
         orders(("eu", "o4", 200)), watermark(300)),
        (pane("eu", 0, 80, 3, "ON_TIME", True), pane("eu", 200, 230, 1, "ON_TIME", True)),
    ),
    Scenario(
        "sliding_windows",
        WindowSpec(kind=WindowKind.SLIDING, size_ms=60_000, period_ms=30_000),
        (orders(("eu", "o1", 10), ("eu", "o2", 40)), watermark(200)),
        (pane("eu", -30, 30, 1, "ON_TIME", True), pane("eu", 0, 60, 2, "ON_TIME", True),
         pane("eu", 30, 90, 1, "ON_TIME", True)),
    ),
    Scenario(
        "redelivery_counts_once",
        MINUTE,
        (orders(("eu", "o1", 10), ("eu", "o1", 10), ("eu", "o2", 20)), watermark(30), orders(("eu", "o2", 20)),
         watermark(60)),
        (pane("eu", 0, 60, 2, "ON_TIME", True),),
    ),
    Scenario(
        "late_redelivery_counts_once_discarding",
        dataclasses.replace(LATENESS_60S, accumulation=Accumulation.DISCARDING),
        (orders(("eu", "o1", 10)), watermark(70), orders(("eu", "o1", 10)), watermark(80),
         orders(("eu", "o2", 30))),
        (pane("eu", 0, 60, 1, "ON_TIME", False), pane("eu", 0, 60, 0, "LATE", False),
         pane("eu", 0, 60, 1, "LATE", False)),
        on_flink=(pane("eu", 0, 60, 1, "ON_TIME", False), pane("eu", 0, 60, 0, "LATE", False),
                  pane("eu", 0, 60, 1, "LATE", False), pane("eu", 0, 60, 0, "LATE", True)),
        flink_why=FLINK_CLOSING_PANE,
    ),
    Scenario(
        "boundary_timestamps",
        MINUTE,
        (orders(("eu", "o1", 0), ("eu", "o2", 59.999), ("eu", "o3", 60)), watermark(59.999),
         orders(("eu", "o4", 119.999)), watermark(120)),
        (pane("eu", 0, 60, 2, "ON_TIME", True), pane("eu", 60, 120, 2, "ON_TIME", True)),
    ),
)
