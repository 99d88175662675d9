"""A recorded stream replayed as a TestStream: what a streaming runner would have emitted, deterministically.

Records are played in file order. After each record the watermark advances to
`max(event_time seen) - max_out_of_orderness` (a bounded-out-of-orderness watermark, as Flink and
Kafka Streams use), and to infinity at the end. Processing time advances with the highest event time
seen, as if the recording were played back at its original speed, so processing-time early firings
fire where they would have live. The same steps format describes the event-time test scenarios.

kappa owns this watermark, so kappa, not the runner, decides what is too late: a valid record whose
windows have all expired when it arrives (watermark past end + allowed lateness) never enters the
stream and is counted. Every runner therefore counts the same records (Beam's Flink runner does not drop
late TestStream data as the direct runner does, apache/beam#20844). Dead letters never enter it either.

A runner pays for every step of a TestStream, so the plan sends only the steps that change what
comes out, and folds the records that arrive together into partial aggregates where the windowing
allows (`kappa.transforms.aggregation`):
- without processing-time early firings, a watermark advance is sent only when it crosses a point where
  some window fires (its end) or expires (end + lateness + 1 ms);
- with them, the plan follows the rule record by record, as a stream would see it, and sends time
  only where something fires (a window end or expiry, an early-firing timer) or where a record's
  arrival time matters (it starts a pane, so sets that pane's timer, or it is late). Records between
  those points change nothing but the pane they join, so they arrive together. Merging (session)
  windows move timers between windows, so there every record's time is sent.
"""
from __future__ import annotations

import bisect
import dataclasses
import heapq
from typing import Any, Callable, Dict, Hashable, Iterable, List, Optional, Tuple, Union

import apache_beam as beam
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Duration, Timestamp

from kappa.io.dead_letter import DeadLetter
from kappa.transforms.aggregation import FoldEvents, WindowedAggregation
from kappa.transforms.windowing import WindowSpec


@dataclasses.dataclass(frozen=True)
class AddElements:
    """Elements arriving together, each a (value, event_time_ms) pair."""

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
    """The steps of a replay, the dead letters met while planning it, and what it counted."""

    steps: Tuple[Step, ...]
    dead_letters: Tuple[DeadLetter, ...]
    records_in: int
    sent: int  # valid records in the stream, before folding
    too_late: int


Window = Tuple[int, int]  # [start, end) in ms


def _windows_of(window_fn: window.WindowFn) -> Callable[[int], List[Window]]:
    if isinstance(window_fn, window.FixedWindows):
        size, offset = window_fn.size.micros // 1000, window_fn.offset.micros // 1000

        def fixed(event_ms: int) -> List[Window]:
            start = event_ms - (event_ms - offset) % size
            return [(start, start + size)]
        return fixed

    def assigned(event_ms: int) -> List[Window]:
        context = window.WindowFn.AssignContext(Timestamp(micros=event_ms * 1000))
        return [(w.start.micros // 1000, w.end.micros // 1000) for w in window_fn.assign(context)]
    return assigned


class _Planner:
    """Turns arrivals into steps: elements wait in `pending` until time is sent, then go out together,
    folded when a fold is given."""

    def __init__(self, spec: WindowSpec, fold: Optional[FoldEvents], event_time_ms: Callable[[Any], int]):
        self.windows = _windows_of(spec.window_fn())
        self.lateness_ms = spec.allowed_lateness_ms
        self.fold = fold
        self.event_time_ms = event_time_ms
        self.steps: List[Step] = []
        self.pending: List[Any] = []
        self.watermark: Optional[int] = None  # the last one sent
        self.sent = 0
        self.too_late = 0

    def expired(self, windows: List[Window], watermark: Optional[int]) -> bool:
        """Whether every one of a record's windows is past its lateness at this watermark."""
        return watermark is not None and all(watermark > end + self.lateness_ms for _, end in windows)

    def flush(self) -> None:
        if not self.pending:
            return
        if self.fold is not None:
            elements = tuple((p.value, p.timestamp.micros // 1000) for p in self.fold(self.pending))
        else:
            elements = tuple((e, self.event_time_ms(e)) for e in self.pending)
        self.steps.append(AddElements(elements))
        self.pending = []

    def advance_watermark(self, to_ms: int) -> None:
        self.flush()
        self.steps.append(AdvanceWatermark(to_ms))
        self.watermark = to_ms


def _change_points(event_times: Iterable[int], windows: Callable[[int], List[Window]], allowed_lateness_ms: int) -> List[int]:
    """Watermarks (ms) at which a window of these events fires on time (end) or expires (end + lateness + 1ms)."""
    points = set()
    for event_time in event_times:
        for _, end_ms in windows(event_time):
            points.update((end_ms, end_ms + allowed_lateness_ms + 1))
    return sorted(points)


def plan_replay(
    parsed: Iterable[Any],
    aggregation: WindowedAggregation,
    max_out_of_orderness_ms: int,
    spec: WindowSpec,
    fold: Optional[FoldEvents] = None,
) -> ReplayPlan:
    """The TestStream steps of a recorded stream of valid events and `DeadLetter`s, in arrival order.

    `fold` folds the events that arrive together into partials (the pre-aggregated plan); without it
    every event is sent as it is.
    """
    events: List[Any] = []
    dead_letters: List[DeadLetter] = []
    for item in parsed:
        (dead_letters if isinstance(item, DeadLetter) else events).append(item)
    planner = _Planner(spec, fold, aggregation.event_time_ms)
    points = _change_points(map(aggregation.event_time_ms, events), planner.windows, spec.allowed_lateness_ms)
    if spec.early_firing_delay_ms is None:
        _plan_by_watermark(events, planner, points, max_out_of_orderness_ms)
    else:
        merging = not isinstance(spec.window_fn(), window.NonMergingWindowFn)
        _plan_by_timers(events, planner, points, max_out_of_orderness_ms, spec.early_firing_delay_ms,
                        aggregation.key_value, every_record=merging)
    planner.flush()
    return ReplayPlan(steps=tuple(planner.steps), dead_letters=tuple(dead_letters),
                      records_in=len(events) + len(dead_letters), sent=planner.sent, too_late=planner.too_late)


def _plan_by_watermark(events: List[Any], planner: _Planner, points: List[int], max_out_of_orderness_ms: int) -> None:
    """Watermark advances only where they cross a change point; the records between two advances
    arrive together."""
    event_time_ms = planner.event_time_ms
    max_seen: Optional[int] = None
    next_point = 0
    for event in events:
        event_ms = event_time_ms(event)
        if planner.expired(planner.windows(event_ms), planner.watermark):
            planner.too_late += 1
            continue
        planner.pending.append(event)
        planner.sent += 1
        if max_seen is not None and event_ms <= max_seen:
            continue
        max_seen = event_ms
        candidate = max_seen - max_out_of_orderness_ms
        watermark = planner.watermark
        if watermark is not None and candidate <= watermark:
            continue
        floor = watermark if watermark is not None else -1
        next_point = bisect.bisect_right(points, floor, next_point)
        if watermark is None or (next_point < len(points) and points[next_point] <= candidate):
            planner.advance_watermark(candidate)


def _plan_by_timers(events: List[Any], planner: _Planner, points: List[int], max_out_of_orderness_ms: int,
                    delay_ms: int, key_value: Callable[[Any], Tuple[Hashable, Any]], every_record: bool) -> None:
    """The rule applied at every new highest event time, sent only where it matters (the module's
    docstring says where).

    After the k-th new highest event time t_k, processing time is t_k - t_1 and the watermark
    t_k - max_out_of_orderness; a record arrives in the state in force when it is read, and the
    record that sets a new highest time arrives before time moves.
    """
    event_time_ms, windows = planner.event_time_ms, planner.windows
    first: Optional[int] = None
    now_pt, now_wm = 0, None  # the rule's processing time (ms since the first record) and watermark
    sent_pt = 0
    timers: Dict[Tuple[Hashable, Window], int] = {}  # (key, window) -> its early firing's processing time
    deadlines: List[Tuple[int, Hashable, Window]] = []  # the same, as a heap
    next_point = 0

    def send_now() -> None:
        nonlocal sent_pt
        if (sent_pt, planner.watermark) == (now_pt, now_wm):
            return  # what waits arrived in this very state
        planner.flush()
        if now_pt > sent_pt:
            planner.steps.append(AdvanceProcessingTime(now_pt - sent_pt))
            sent_pt = now_pt
        if now_wm is not None and (planner.watermark is None or now_wm > planner.watermark):
            planner.advance_watermark(now_wm)

    for event in events:
        event_ms = event_time_ms(event)
        event_windows = windows(event_ms)
        if planner.expired(event_windows, now_wm):
            planner.too_late += 1
            continue
        key = key_value(event)[0]
        exact = every_record
        for win in event_windows:
            if now_wm is not None and now_wm >= win[1]:
                exact = True  # late: it fires a pane when it arrives
            elif (key, win) not in timers:
                exact = True  # it opens a pane, and its arrival sets that pane's early-firing timer
                timers[(key, win)] = now_pt + delay_ms
                heapq.heappush(deadlines, (now_pt + delay_ms, key, win))
        if exact:
            send_now()
        planner.pending.append(event)
        planner.sent += 1
        if first is None:
            first, now_wm = event_ms, event_ms - max_out_of_orderness_ms
            send_now()
            continue
        if event_ms - first <= now_pt:
            continue
        previous_wm = now_wm
        now_pt, now_wm = event_ms - first, event_ms - max_out_of_orderness_ms
        fires = bool(deadlines) and deadlines[0][0] <= now_pt
        while deadlines and deadlines[0][0] <= now_pt:
            deadline, key, win = heapq.heappop(deadlines)
            if timers.get((key, win)) == deadline:
                del timers[(key, win)]
        next_point = bisect.bisect_right(points, previous_wm, next_point)
        if every_record or fires or (next_point < len(points) and points[next_point] <= now_wm):
            send_now()


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
                stream.add_elements([window.TimestampedValue(coder.encode(value), Timestamp(micros=ms * 1000))
                                     for value, ms in step.elements])
            elif isinstance(step, AdvanceWatermark):
                stream.advance_watermark_to(Timestamp(micros=step.to_ms * 1000))
            else:
                stream.advance_processing_time(Duration(micros=step.by_ms * 1000))
        stream.advance_watermark_to_infinity()
        return (pbegin
                | "Stream" >> stream.with_output_types(bytes)
                | "Decode" >> beam.Map(coder.decode).with_output_types(self._element_type))
