"""Recorded streams replayed as a TestStream: what a streaming runner would have emitted, deterministically.

The records of all of a pipeline's inputs form one stream: each input's files are read in order, and
the merge takes, among the next valid record of each input, the one with the smallest event time
(ties: by input name), so an input keeps its own order and a replay is the same every time. After each
record the watermark advances to `max(event_time seen) - max_out_of_orderness` (a bounded-out-of-
orderness watermark, as Flink and Kafka Streams use), and to infinity at the end. Processing time
advances with the highest event time seen, as if the recording were played back at its original
speed, so processing-time early firings fire where they would have live. The same steps format
describes the event-time test scenarios.

kappa owns this watermark, so kappa, not the runner, decides what is too late: a valid record that its
input's rule (`kappa.transforms.lateness`) says the pipeline can no longer take into account never
enters the stream; it goes to the `late` output with the watermark it met. Every runner therefore
sees the same records (Beam's Flink runner does not drop late TestStream data as the direct runner
does, apache/beam#20844). Dead letters never enter it either.

A runner pays for every step of a TestStream, so the plan sends only the steps that change what
comes out, and folds the records that arrive together into partial aggregates where the windowing
allows (`kappa.transforms.aggregation`):
- without processing-time early firings, a watermark advance is sent only when it crosses a point
  where something fires: for windowed inputs a window's end or expiry (end + lateness + 1 ms); an input
  whose rule knows no such points (a join, a stateful rule) makes every advance count;
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
from typing import Any, Callable, Dict, Hashable, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

import apache_beam as beam
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Duration, Timestamp

from kappa.io.dead_letter import DeadLetter
from kappa.transforms.aggregation import Fold
from kappa.transforms.lateness import LateRecord, Window, windows_of
from kappa.transforms.tally import DEAD_LETTERS, RECORDS_IN, TOO_LATE
from kappa.transforms.windowing import WindowSpec


@dataclasses.dataclass(frozen=True)
class AddElements:
    """Elements of one input arriving together, each a (value, event_time_ms) pair; `stream` None: the
    one input of a scenario."""

    elements: tuple
    stream: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class AdvanceWatermark:
    to_ms: int


@dataclasses.dataclass(frozen=True)
class AdvanceProcessingTime:
    by_ms: int


Step = Union[AddElements, AdvanceWatermark, AdvanceProcessingTime]


@dataclasses.dataclass(frozen=True)
class ReplayPlan:
    """The steps of a replay, the dead letters and too-late records met while planning it, and what
    it counted per input (RECORDS_IN, DEAD_LETTERS, TOO_LATE)."""

    steps: Tuple[Step, ...]
    dead_letters: Tuple[DeadLetter, ...]
    late: Tuple[LateRecord, ...]
    counts: Mapping[str, Mapping[str, int]]

    @property
    def records_in(self) -> int:
        return sum(counts[RECORDS_IN] for counts in self.counts.values())


@dataclasses.dataclass(frozen=True)
class ReplayInput:
    """One input of a replay: its parsed records (events and DeadLetters) in file order, and how the
    plan treats its events."""

    parsed: Iterable[Any]
    event_time_ms: Callable[[Any], int]
    too_late: Any  # a rule of kappa.transforms.lateness
    fold: Optional[Fold] = None  # fold the events that arrive together (pre-aggregation)
    key_of: Optional[Callable[[Any], Hashable]] = None  # an aggregated input's grouping key


class _Arrival:
    __slots__ = ("stream", "event", "event_ms")

    def __init__(self, stream: str, event: Any, event_ms: int):
        self.stream, self.event, self.event_ms = stream, event, event_ms


class _Planner:
    """Turns arrivals into steps: elements wait in `pending` until time is sent, then go out together,
    per input, folded where the input has a fold."""

    def __init__(self, inputs: Mapping[str, ReplayInput]):
        self.inputs = inputs
        self.steps: List[Step] = []
        self.pending: Dict[str, List[Any]] = {name: [] for name in inputs}
        self.watermark: Optional[int] = None  # the last one sent
        self.late: List[LateRecord] = []

    def kept_as_late(self, arrival: _Arrival, watermark: Optional[int]) -> bool:
        """Whether the arrival is too late at this watermark; if it is, it is kept for the late output."""
        if self.inputs[arrival.stream].too_late.too_late(arrival.event_ms, watermark):
            self.late.append(LateRecord(arrival.stream, arrival.event, arrival.event_ms, watermark))
            return True
        return False

    def queue(self, arrival: _Arrival) -> None:
        self.pending[arrival.stream].append(arrival.event)

    def flush(self) -> None:
        for stream, pending in self.pending.items():
            if not pending:
                continue
            replay_input = self.inputs[stream]
            if replay_input.fold is not None:
                elements = tuple((p.value, p.timestamp.micros // 1000) for p in replay_input.fold(pending))
            else:
                elements = tuple((e, replay_input.event_time_ms(e)) for e in pending)
            self.steps.append(AddElements(elements, stream))
            self.pending[stream] = []

    def advance_watermark(self, to_ms: int) -> None:
        self.flush()
        self.steps.append(AdvanceWatermark(to_ms))
        self.watermark = to_ms


def _merged(events: Mapping[str, List[Any]], inputs: Mapping[str, ReplayInput]) -> Iterator[_Arrival]:
    """The inputs' events as one stream: each input in its own order; the smallest event time of the
    inputs' next events first, ties by input name."""
    def arrivals(stream: str) -> Iterator[_Arrival]:
        event_time_ms = inputs[stream].event_time_ms
        return (_Arrival(stream, event, event_time_ms(event)) for event in events[stream])
    return heapq.merge(*(arrivals(stream) for stream in sorted(events)), key=lambda a: a.event_ms)


def _change_points(events: Mapping[str, List[Any]], inputs: Mapping[str, ReplayInput]) -> Optional[List[int]]:
    """The watermarks at which something fires, over every input; None when any input's can be any."""
    points = set()
    for stream, stream_events in events.items():
        replay_input = inputs[stream]
        stream_points = replay_input.too_late.change_points(map(replay_input.event_time_ms, stream_events))
        if stream_points is None:
            return None
        points.update(stream_points)
    return sorted(points)


def plan_replay(inputs: Mapping[str, ReplayInput], max_out_of_orderness_ms: int,
                spec: Optional[WindowSpec] = None) -> ReplayPlan:
    """The TestStream steps of recorded inputs. `spec`: the pipeline's windowing, when it has one
    (its processing-time early firings decide where time must be sent)."""
    events: Dict[str, List[Any]] = {}
    dead_letters: List[DeadLetter] = []
    counts: Dict[str, Dict[str, int]] = {}
    for stream, replay_input in inputs.items():
        stream_events = events[stream] = []
        dead = 0
        for item in replay_input.parsed:
            if isinstance(item, DeadLetter):
                dead_letters.append(item._replace(stream=stream))
                dead += 1
            else:
                stream_events.append(item)
        counts[stream] = {RECORDS_IN: len(stream_events) + dead, DEAD_LETTERS: dead, TOO_LATE: 0}
    planner = _Planner(inputs)
    points = _change_points(events, inputs)
    arrivals = _merged(events, inputs)
    if spec is None or spec.early_firing_delay_ms is None:
        _plan_by_watermark(arrivals, planner, points, max_out_of_orderness_ms)
    else:
        merging = not isinstance(spec.window_fn(), window.NonMergingWindowFn)
        _plan_by_timers(arrivals, planner, points or [], max_out_of_orderness_ms, spec,
                        every_record=merging or points is None)
    planner.flush()
    for late in planner.late:
        counts[late.stream][TOO_LATE] += 1
    return ReplayPlan(steps=tuple(planner.steps), dead_letters=tuple(dead_letters), late=tuple(planner.late),
                      counts=counts)


def _plan_by_watermark(arrivals: Iterable[_Arrival], planner: _Planner, points: Optional[List[int]],
                       max_out_of_orderness_ms: int) -> None:
    """Watermark advances only where they cross a change point (every one, without points); the
    records between two advances arrive together."""
    max_seen: Optional[int] = None
    next_point = 0
    for arrival in arrivals:
        if planner.kept_as_late(arrival, planner.watermark):
            continue
        planner.queue(arrival)
        event_ms = arrival.event_ms
        if max_seen is not None and event_ms <= max_seen:
            continue
        max_seen = event_ms
        candidate = max_seen - max_out_of_orderness_ms
        watermark = planner.watermark
        if watermark is not None and candidate <= watermark:
            continue
        if points is None or watermark is None:
            planner.advance_watermark(candidate)
            continue
        next_point = bisect.bisect_right(points, watermark, next_point)
        if next_point < len(points) and points[next_point] <= candidate:
            planner.advance_watermark(candidate)


def _plan_by_timers(arrivals: Iterable[_Arrival], planner: _Planner, points: List[int], max_out_of_orderness_ms: int,
                    spec: WindowSpec, every_record: bool) -> None:
    """The rule applied at every new highest event time, sent only where it matters (the module's
    docstring says where).

    After the k-th new highest event time t_k, processing time is t_k - t_1 and the watermark
    t_k - max_out_of_orderness; a record arrives in the state in force when it is read, and the
    record that sets a new highest time arrives before time moves. An input without a grouping key
    (not the aggregated one) has each record's time sent.
    """
    windows, delay_ms = windows_of(spec.window_fn()), spec.early_firing_delay_ms
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

    for arrival in arrivals:
        event_ms = arrival.event_ms
        key_of = planner.inputs[arrival.stream].key_of
        if planner.kept_as_late(arrival, now_wm):
            continue
        exact = every_record or key_of is None
        if key_of is not None:
            key = key_of(arrival.event)
            for win in windows(event_ms):
                if now_wm is not None and now_wm >= win[1]:
                    exact = True  # late: it fires a pane when it arrives
                elif (key, win) not in timers:
                    exact = True  # it opens a pane, and its arrival sets that pane's early-firing timer
                    timers[(key, win)] = now_pt + delay_ms
                    heapq.heappush(deadlines, (now_pt + delay_ms, key, win))
        if exact:
            send_now()
        planner.queue(arrival)
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


class _Decode(beam.DoFn):
    """(input index, value encoded) -> the value, for the one input this copy decodes."""

    def __init__(self, index: int, coder: beam.coders.Coder):
        self._index = index
        self._coder = coder

    def process(self, element: bytes):
        if element[0] == self._index:
            yield self._coder.decode(element[1:])


class ReplayStreams(beam.PTransform):
    """PBegin -> {input: PCollection[its element type]}: the steps as one stream that ends with the
    watermark at infinity, split by input.

    Elements cross the TestStream as bytes (the input's index, then the value in its coder) and are
    decoded in the SDK, because a runner that executes TestStream itself (Flink, in Java) decodes its
    payload with Java coders and knows no Python types. One untagged TestStream, split after it, has
    one watermark for every input, as the replay's rule says, on every runner.
    """

    def __init__(self, steps: Iterable[Step], element_types: Mapping[Optional[str], Any]):
        super().__init__()
        self._steps = tuple(steps)
        self._streams = sorted(element_types, key=str)
        self._coders = {name: beam.coders.registry.get_coder(element_types[name]) for name in self._streams}
        self._element_types = dict(element_types)

    def expand(self, pbegin: beam.pvalue.PBegin) -> Dict[Optional[str], beam.PCollection]:
        index = {name: bytes((i,)) for i, name in enumerate(self._streams)}
        stream = TestStream(coder=beam.coders.BytesCoder())
        for step in self._steps:
            if isinstance(step, AddElements):
                prefix, coder = index[step.stream], self._coders[step.stream]
                stream.add_elements([window.TimestampedValue(prefix + coder.encode(value), Timestamp(micros=ms * 1000))
                                     for value, ms in step.elements])
            elif isinstance(step, AdvanceWatermark):
                stream.advance_watermark_to(Timestamp(micros=step.to_ms * 1000))
            else:
                stream.advance_processing_time(Duration(micros=step.by_ms * 1000))
        stream.advance_watermark_to_infinity()
        encoded = pbegin | "Stream" >> stream.with_output_types(bytes)
        return {name: encoded | f"Decode{name or ''}" >> beam.ParDo(_Decode(i, self._coders[name])).with_output_types(
                    self._element_types[name])
                for i, name in enumerate(self._streams)}


class ReplayStream(beam.PTransform):
    """PBegin -> PCollection[element_type]: the steps of one input (`stream`; None: a scenario's)."""

    def __init__(self, steps: Iterable[Step], element_type: Any = Any, stream: Optional[str] = None):
        super().__init__()
        self._stream = stream
        self._streams = ReplayStreams(steps, {stream: element_type})

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (pbegin | self._streams)[self._stream]
