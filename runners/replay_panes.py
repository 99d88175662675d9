"""A replay's windowed aggregation played through Beam's own trigger driver, in this process.

On Beam's direct runner a replay pays for every TestStream step in the runner's bundle machinery (a
bundle per step through every transform, watermark bookkeeping for the whole graph), not in the
aggregation: a day of traffic with early firings is tens of thousands of steps. The grouping is where
event time happens, so only the grouping is played here, by the code the direct runner runs for it: a
`GeneralTriggerDriver` built from the pipeline's own `WindowInto`, one `InMemoryUnmergedState` per
key, processing time on a `TestClock`. The panes it emits (window, pane info, combined value) then go
through the rest of the pipeline in Beam, unchanged.

What the direct runner's streaming GroupByKey does with each step, and so what this does:
- elements arriving together are handed over per key, in arrival order, with the grouping's input
  watermark (the latest one sent) and its output watermark (held by each key's earliest hold);
- a watermark or processing-time advance fires every timer that falls due, each cleared before it
  fires, until none is due;
- the end of the stream moves the watermark to the end of time.
Each step is finished before the next, as the direct runner finishes a TestStream step.

Unlike the direct runner, which keeps every window's state for good, a window that can emit nothing
more is forgotten, as a streaming runner's garbage collection forgets it: so a replay's state and its
cost per step stay those of the windows still open, however long the recording. That is a window past
its allowed lateness (an element for it is dropped on arrival) with no timer left to fire and no
watermark hold. Merging (session) windows keep theirs: a late element can still bridge into an
expired session, and the direct runner then lets that session's end-of-life swallow it.
"""
from __future__ import annotations

import heapq
import pickle
from typing import Any, Dict, Hashable, Iterable, Iterator, List, Tuple

import apache_beam as beam
from apache_beam.runners.direct.clock import TestClock
from apache_beam.transforms import trigger
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.window import WindowFn
from apache_beam.utils.timestamp import MAX_TIMESTAMP, MIN_TIMESTAMP, Duration, Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from kappa.io.replay import AddElements, AdvanceWatermark, Step
from kappa.transforms.aggregation import Grouped
from kappa.transforms.windowing import WindowSpec

_WINDOW_IDS = trigger.MergeableStateAdapter.WINDOW_IDS.tag  # where the driver's state maps windows to ids


def _without_extraction_once() -> None:
    """Beam 2.62's driver state defines a new CombineFn class (`without_extraction`) on every read and
    write of a counting state cell, a quarter of a replay's grouping time; the class depends only on
    the cell's name and combiner, so each is defined once. Idempotent."""
    tag_class = trigger._CombiningValueStateTag
    if getattr(tag_class, "_kappa_once", False):
        return
    defined: Dict[Tuple[str, int], Tuple[beam.CombineFn, Any]] = {}
    define = tag_class.without_extraction

    def without_extraction(self):
        key = (self.tag, id(self.combine_fn))
        known = defined.get(key)
        if known is None or known[0] is not self.combine_fn:
            known = defined[key] = (self.combine_fn, define(self))
        return known[1]

    tag_class.without_extraction = without_extraction
    tag_class._kappa_once = True


class _KeyedTimers:
    """The earliest timer of each key per time domain, as heaps checked against each key's state when
    popped, so a step looks only at the keys with a timer due."""

    def __init__(self) -> None:
        self._due: Dict[str, List[Tuple[Timestamp, int, Hashable]]] = {
            TimeDomain.WATERMARK: [], TimeDomain.REAL_TIME: []}
        self._order = 0

    def note(self, key: Hashable, state: trigger.InMemoryUnmergedState) -> None:
        earliest: Dict[str, Timestamp] = {}
        for timers in state.timers.values():
            for (_, domain, _), at in timers.items():
                if domain not in earliest or at < earliest[domain]:
                    earliest[domain] = at
        for domain, at in earliest.items():
            self._order += 1
            heapq.heappush(self._due[domain], (at, self._order, key))

    def due(self, watermark: Timestamp, now: float) -> List[Hashable]:
        """Keys that may have a timer due, each once, in the order their timers fall due."""
        keys: Dict[Hashable, None] = {}
        for domain, limit in ((TimeDomain.WATERMARK, watermark), (TimeDomain.REAL_TIME, now)):
            heap = self._due[domain]
            while heap and heap[0][0] <= limit:
                keys[heapq.heappop(heap)[2]] = None
        return list(keys)


class PanePlayer:
    """Steps in, panes out: `WindowedValue((key, combined output), timestamp, (window,), pane_info)`,
    each window's panes in the order they fired."""

    def __init__(self, spec: WindowSpec, grouped: Grouped, combine_fn: beam.CombineFn):
        _without_extraction_once()
        windowing = spec.window_into().windowing
        self._clock = TestClock()
        self._driver = trigger.create_trigger_driver(windowing, clock=self._clock)
        self._window_fn: WindowFn = windowing.windowfn
        self._grouped = grouped
        self._combine_fn = combine_fn
        self._states: Dict[Hashable, trigger.InMemoryUnmergedState] = {}
        self._holds: Dict[Hashable, Timestamp] = {}
        self._timers = _KeyedTimers()
        self._input_watermark = MIN_TIMESTAMP
        self._allowed_lateness = windowing.allowed_lateness
        self._forgets = not self._window_fn.is_merging()
        self._hold_tag = self._driver.WATERMARK_HOLD.tag

    def play(self, steps: Iterable[Step]) -> Iterator[WindowedValue]:
        for step in steps:
            if isinstance(step, AddElements):
                yield from self._add(step.elements)
            elif isinstance(step, AdvanceWatermark):
                self._input_watermark = max(self._input_watermark, Timestamp(micros=step.to_ms * 1000))
            else:
                self._clock.advance_time(Duration(micros=step.by_ms * 1000))
            yield from self._fire_due_timers()  # after elements too: a timer they set may be due
        self._input_watermark = MAX_TIMESTAMP
        yield from self._fire_due_timers()

    def _output_watermark(self) -> Timestamp:
        return min(self._input_watermark, min(self._holds.values(), default=MAX_TIMESTAMP))

    def _add(self, elements: Iterable[Tuple[Any, int]]) -> Iterator[WindowedValue]:
        by_key: Dict[Hashable, List[WindowedValue]] = {}
        for element, event_ms in elements:
            key, value, event_ms = self._grouped(element, event_ms)
            timestamp = Timestamp(micros=event_ms * 1000)
            windows = self._window_fn.assign(WindowFn.AssignContext(timestamp, element=value))
            by_key.setdefault(key, []).append(WindowedValue(value, timestamp, windows))
        output_watermark = self._output_watermark()
        for key, values in by_key.items():
            state = self._state(key)
            yield from self._panes(key, self._driver.process_elements(
                state, values, output_watermark, self._input_watermark))
            self._settle(key, state)

    def _fire_due_timers(self) -> Iterator[WindowedValue]:
        keys = self._timers.due(self._input_watermark, self._clock.time())
        while keys:
            for key in keys:
                state = self._states.get(key)
                if state is None:  # its timers were cleared, and its state with them, since noted
                    continue
                fired, _ = state.get_timers(watermark=self._input_watermark, processing_time=self._clock.time())
                for window_id, (name, domain, at, tag) in fired:
                    state.clear_timer(window_id, name, domain, dynamic_timer_tag=tag)
                    yield from self._panes(key, self._driver.process_timer(
                        window_id, name, domain, at, state, self._input_watermark))
                self._settle(key, state)
            keys = self._timers.due(self._input_watermark, self._clock.time())

    def _state(self, key: Hashable) -> trigger.InMemoryUnmergedState:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = trigger.InMemoryUnmergedState()
        return state

    def _settle(self, key: Hashable, state: trigger.InMemoryUnmergedState) -> None:
        """After a key's work: its watermark hold, its next timers, and no state for a key with none."""
        if self._forgets:
            self._forget_expired(state)
        hold = state.get_earliest_hold()
        if hold == MAX_TIMESTAMP:
            self._holds.pop(key, None)
        else:
            self._holds[key] = hold
        self._timers.note(key, state)
        if not state.state and not state.timers and not any(state.global_state.values()):
            del self._states[key]

    def _forget_expired(self, state: trigger.InMemoryUnmergedState) -> None:
        ids_of = state.global_state.get(_WINDOW_IDS)  # window -> its state's ids
        if not ids_of:
            return
        for window, ids in list(ids_of.items()):
            if self._input_watermark <= window.end + self._allowed_lateness:
                continue
            if any(i in state.timers or self._hold_tag in state.state.get(i, ()) for i in ids):
                continue
            for window_id in ids:
                state.state.pop(window_id, None)
            del ids_of[window]

    def _panes(self, key: Hashable, fired: Iterable[WindowedValue]) -> Iterator[WindowedValue]:
        for pane in fired:
            yield pane.with_value((key, self._combine_fn.apply(pane.value)))


class PlayedPanes(beam.PTransform):
    """PBegin -> (key, combined output) per pane, each in its window with its pane info, in firing order:
    what the grouping of the same steps emits on the direct runner.

    The panes cross into the pipeline as one pickled element, read in one bundle, so a stateful step
    after them sees each window's panes in order; Beam would pickle a `Create`'s values one by one,
    with dill, ten times slower.
    """

    def __init__(self, panes: Iterable[WindowedValue]):
        super().__init__()
        self._panes = pickle.dumps(list(panes), protocol=pickle.HIGHEST_PROTOCOL)

    def expand(self, pbegin):
        return (pbegin
                | "Panes" >> beam.Create([self._panes])
                | "Windowed" >> beam.FlatMap(pickle.loads).with_output_types(Any))
