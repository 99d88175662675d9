"""A recorded stream replayed as a TestStream: what a streaming runner would have emitted, deterministically.

Records are played in file order. After each record the watermark advances to
`max(event_time seen) - max_out_of_orderness` (a bounded-out-of-orderness watermark, as Flink and
Kafka Streams use), and to infinity at the end. Processing time advances with the highest event time
seen, as if the recording were played back at its original speed, so processing-time early firings
fire where they would have live. The same steps format describes the event-time test scenarios.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, List, Optional, Tuple, Union

import apache_beam as beam
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Duration, Timestamp

from kappa.transforms.windowing import WindowSpec


@dataclasses.dataclass(frozen=True)
class AddElements:
    """Elements arriving together, each a (value, event_time_ms) pair; None for a value without a known time."""

    elements: tuple


@dataclasses.dataclass(frozen=True)
class AdvanceWatermark:
    to_ms: int


@dataclasses.dataclass(frozen=True)
class AdvanceProcessingTime:
    by_ms: int


Step = Union[AddElements, AdvanceWatermark, AdvanceProcessingTime]


@dataclasses.dataclass(frozen=True)
class ReplayPlan:
    """The steps of a replay, and what it sends: records in, and valid records that arrive too late."""

    steps: List[Step]
    records_in: int
    too_late: int


def _change_points(event_times: Iterable[int], window_fn: window.WindowFn, allowed_lateness_ms: int) -> List[int]:
    """Watermarks (ms) at which a window of these events fires on time (end) or expires (end + lateness + 1ms)."""
    points = set()
    for event_time in event_times:
        context = window.WindowFn.AssignContext(Timestamp(micros=event_time * 1000))
        for assigned in window_fn.assign(context):
            end_ms = assigned.end.micros // 1000
            points.update((end_ms, end_ms + allowed_lateness_ms + 1))
    return sorted(points)


def plan_replay(
    records: Iterable[Any],
    event_time_ms: Callable[[Any], Optional[int]],
    max_out_of_orderness_ms: int,
    spec: WindowSpec,
) -> ReplayPlan:
    """The TestStream steps of a recorded stream; `event_time_ms` returns None for a record it cannot read.

    Records whose event time is unknown (they will become dead letters) are replayed but do not move
    time. A watermark advance is sent only when it crosses a point where some window fires or expires,
    which yields the same panes as advancing after every record at a fraction of the cost. With
    processing-time early firings every advance matters, so nothing is skipped.

    A valid record that arrives when all its windows have expired (watermark past end + allowed
    lateness) is dropped by the runner without a trace; the plan counts those, since it sets the watermark.
    """
    timed = [(record, event_time_ms(record)) for record in records]
    window_fn = spec.window_fn()
    every_step = spec.early_firing_delay_ms is not None
    points = [] if every_step else _change_points((t for _, t in timed if t is not None), window_fn,
                                                  spec.allowed_lateness_ms)
    steps: List[Step] = []
    pending: List[Tuple[Any, Optional[int]]] = []
    max_seen: Optional[int] = None
    watermark: Optional[int] = None  # the last one sent
    next_point = 0
    too_late = 0
    for record, event_time in timed:
        pending.append((record, event_time))
        if event_time is None:
            continue
        if watermark is not None and _expired(event_time, watermark, window_fn, spec.allowed_lateness_ms):
            too_late += 1
        if max_seen is not None and event_time <= max_seen:
            continue
        if every_step and max_seen is not None:
            steps.append(AddElements(tuple(pending)))
            pending = []
            steps.append(AdvanceProcessingTime(event_time - max_seen))
        max_seen = event_time
        candidate = max_seen - max_out_of_orderness_ms
        if watermark is not None and candidate <= watermark:
            continue
        while next_point < len(points) and points[next_point] <= (watermark if watermark is not None else -1):
            next_point += 1
        if every_step or watermark is None or (next_point < len(points) and points[next_point] <= candidate):
            if pending:
                steps.append(AddElements(tuple(pending)))
                pending = []
            steps.append(AdvanceWatermark(candidate))
            watermark = candidate
    if pending:
        steps.append(AddElements(tuple(pending)))
    return ReplayPlan(steps=steps, records_in=len(timed), too_late=too_late)


def _expired(event_time: int, watermark: int, window_fn: window.WindowFn, allowed_lateness_ms: int) -> bool:
    context = window.WindowFn.AssignContext(Timestamp(micros=event_time * 1000))
    return all(watermark > w.end.micros // 1000 + allowed_lateness_ms for w in window_fn.assign(context))


def _timestamped(value: Any, event_time_ms: Optional[int]) -> Any:
    if event_time_ms is None:
        return value  # TestStream stamps it with the current watermark
    return window.TimestampedValue(value, Timestamp(micros=event_time_ms * 1000))


class ReplayStream(beam.PTransform):
    """PBegin -> PCollection[element_type]: the steps as a stream that ends with the watermark at infinity.

    Elements cross the TestStream as bytes and are decoded in the SDK, because a runner that executes
    TestStream itself (Flink, in Java) decodes its payload with Java coders and knows no Python types.
    """

    def __init__(self, steps: Iterable[Step], element_type: Any = Any):
        super().__init__()
        self._steps = tuple(steps)
        self._element_type = element_type

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        coder = beam.coders.registry.get_coder(self._element_type)
        stream = TestStream(coder=beam.coders.BytesCoder())
        for step in self._steps:
            if isinstance(step, AddElements):
                stream.add_elements([_timestamped(coder.encode(value), event_time)
                                     for value, event_time in step.elements])
            elif isinstance(step, AdvanceWatermark):
                stream.advance_watermark_to(Timestamp(micros=step.to_ms * 1000))
            else:
                stream.advance_processing_time(Duration(micros=step.by_ms * 1000))
        stream.advance_watermark_to_infinity()
        return (pbegin
                | "Stream" >> stream.with_output_types(bytes)
                | "Decode" >> beam.Map(coder.decode).with_output_types(self._element_type))
