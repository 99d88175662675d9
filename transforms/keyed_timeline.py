"""A keyed stage that keeps a key's recent events and acts on them at points in event time: the
streaming form of a rule over a key's events (a join, a history, deduplication), its logic written as
plain Python over the key's entries, so that a bounded plan can call the same functions.

    outputs, tally = keyed_entries | KeyedTimeline(logic)

Each input element is (key, entry), an entry a tuple of primitives (ints, floats, strings, bools and
tuples of them). The stage appends the entry to the key's bag and arms an event-time timer at each of
`logic.points(entry)`. Once the watermark has passed a point, `logic.act(key, entries, now_ms)` gets
every entry of the key, in no particular order, with `now_ms` the point, and returns a `Step`: the
outputs, each with the event time it is emitted at (the point it was due: Flink holds the stage's
output watermark at the firing timer, so an output at or after `now_ms` is never late downstream);
the entries to keep (None: all of them as they were); and `Tally` counts, summed per bundle and
emitted at its end, so that a tally costs no element per record.

The logic keeps state bounded by the horizon rule (`kappa.transforms.keyed_state`): an entry arms a
timer at its horizon, and `act` drops every entry past its horizon that nothing waiting still needs.

A logic that also defines `arrive(key, entries, entry)` is told of each entry as it arrives, with the
key's entries before it, and the (event time, output) pairs it returns are emitted at once on the
`arrivals` output, each at its time, which must not be before the entry's own: so an output is no
later downstream than what it came from, on every runner, where an output of `act` on the direct
runner may be (see `keyed_state`). That costs a read of the bag per entry, and buys a single timer
per key: the stage arms it at an entry's earliest point when that is before every held entry's (or
none is held), and after each `act` at the step's `next_ms`, which the logic sets to the earliest
point it still has to act at (None: none; then it keeps nothing). A key whose entries come every few
seconds and wait minutes (a session) then fires about once per wait, not once per entry.

The shape is chosen for what state costs (Beam 2.62): otherwise nothing is read when an element
arrives. Its entry is appended blind (the SDK buffers appends and writes them once per key and
bundle) and each point is its own timer, a dynamic timer tag named by its millisecond
(`keyed_state.fire_after`): setting a timer that is already set changes nothing, so the earliest
point armed so far never has to be read back, as a single timer per key would need. A firing reads
one bag, whatever the kinds of entries, and rewrites it only when the logic changed it. Timers of a
key fire in timestamp order on the direct runner and on Flink; one set in the past fires after the
bundle that set it.
"""
from __future__ import annotations

import collections
from typing import Any, Hashable, Iterable, Iterator, List, NamedTuple, Optional, Protocol, Sequence, Tuple

import apache_beam as beam
from apache_beam.coders import FastPrimitivesCoder
from apache_beam.transforms import window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer
from apache_beam.typehints.native_type_compatibility import convert_to_beam_type

from kappa.transforms import keyed_state
from kappa.transforms.tally import Tally
from kappa.transforms.windowing import in_global_window

TALLY_TAG = "tally"
ARRIVALS_TAG = "arrivals"


class Step(NamedTuple):
    """What a logic does when a point of a key is passed."""

    outputs: Sequence[Tuple[int, Any]] = ()  # (event time in ms, output)
    kept: Optional[List[tuple]] = None  # the key's entries from now on; None: unchanged
    tally: Sequence[Tally] = ()
    next_ms: Optional[int] = None  # an arrival logic's next point to act at, after `now_ms`


class TimelineLogic(Protocol):
    def points(self, entry: tuple) -> Iterable[int]:
        """The event times (ms) once past which the stage must act for this newly arrived entry."""

    def act(self, key: Hashable, entries: List[tuple], now_ms: int) -> Step:
        """The key's outputs and state once the watermark has passed `now_ms`."""


class ArrivalLogic(TimelineLogic, Protocol):
    def arrive(self, key: Hashable, entries: List[tuple], entry: tuple) -> Iterable[Tuple[int, Any]]:
        """The outputs of `entry`'s arrival, given the key's entries before it: (event time in ms, output)."""


class BundleTally:
    """Tally counts summed over a bundle (a DoFn's `start_bundle` makes one), emitted at its end
    (`finish_bundle` yields `flushed()`) as a few `Tally` records on the TALLY_TAG output."""

    def __init__(self) -> None:
        self._counts: collections.Counter = collections.Counter()

    def add(self, tally: Tally) -> None:
        self._counts[tally.stream, tally.measure] += tally.n

    def flushed(self) -> Iterator[beam.pvalue.TaggedOutput]:
        for (stream, measure), n in self._counts.items():
            yield beam.pvalue.TaggedOutput(TALLY_TAG, window.GlobalWindows.windowed_value(Tally(stream, measure, n)))


class _TimelineFn(beam.DoFn):
    ENTRIES = BagStateSpec("entries", FastPrimitivesCoder())
    ACT = TimerSpec("act", TimeDomain.WATERMARK)

    def __init__(self, logic: TimelineLogic):
        self._logic = logic
        self._on_arrival = hasattr(logic, "arrive")

    def start_bundle(self) -> None:
        self._tally = BundleTally()

    def process(self, keyed: Tuple[Hashable, tuple], entries=beam.DoFn.StateParam(ENTRIES),
                act=beam.DoFn.TimerParam(ACT)):
        key, entry = keyed
        logic = self._logic
        if not self._on_arrival:
            entries.add(entry)
            for point in logic.points(entry):
                keyed_state.fire_after(act, point, str(point))
            return
        held = list(entries.read())
        for at_ms, output in logic.arrive(key, held, entry):
            yield beam.pvalue.TaggedOutput(ARRIVALS_TAG, in_global_window(output, at_ms))
        entries.add(entry)
        point = min(logic.points(entry))
        if not held or point < min(min(logic.points(other)) for other in held):
            keyed_state.fire_after(act, point)

    @on_timer(ACT)
    def on_act(self, key=beam.DoFn.KeyParam, fired=beam.DoFn.TimestampParam,
               entries=beam.DoFn.StateParam(ENTRIES), act=beam.DoFn.TimerParam(ACT)):
        now_ms = keyed_state.fired_ms(fired)
        step = self._logic.act(key, list(entries.read()), now_ms)
        if step.kept is not None:
            entries.clear()
            for entry in step.kept:
                entries.add(entry)
        if self._on_arrival and step.next_ms is not None:
            keyed_state.fire_after(act, step.next_ms)
        for tally in step.tally:
            self._tally.add(tally)
        for at_ms, output in step.outputs:
            yield in_global_window(output, at_ms)

    def finish_bundle(self):
        return self._tally.flushed()


class TimelineResult(NamedTuple):
    outputs: beam.PCollection
    tally: beam.PCollection  # Tally records, a few per bundle
    arrivals: Optional[beam.PCollection] = None  # what `arrive` returned, for an `ArrivalLogic`


class KeyedTimeline(beam.PTransform):
    """PCollection[(key, entry)] in the global window -> `TimelineResult(outputs, tally)`; the key type
    must have a deterministic coder (state is keyed by the encoded key), checked when built."""

    def __init__(self, logic: TimelineLogic, output_type: Any = Any, arrival_type: Any = Any):
        super().__init__()
        self._logic = logic
        self._output_type = convert_to_beam_type(output_type)
        self._arrival_type = convert_to_beam_type(arrival_type)

    def expand(self, keyed: beam.PCollection) -> TimelineResult:
        where = f"KeyedTimeline {type(self._logic).__name__}: the input"
        window_fn = keyed.windowing.windowfn
        if not isinstance(window_fn, window.GlobalWindows):
            raise TypeError(f"{where} is windowed ({type(window_fn).__name__}): it must be in the global window")
        element_type = keyed.element_type
        key_type = getattr(element_type, "tuple_types", (None,))[0]
        if key_type is None:
            raise TypeError(f"{where} has element type {keyed_state.type_name(element_type)}, not Tuple[key, entry]")
        keyed_state.require_deterministic_key(key_type, where)
        on_arrival = hasattr(self._logic, "arrive")
        tags = (TALLY_TAG, ARRIVALS_TAG) if on_arrival else (TALLY_TAG,)
        acted = keyed | "Act" >> beam.ParDo(_TimelineFn(self._logic)).with_outputs(*tags, main="outputs")
        acted.outputs.element_type = self._output_type
        acted[TALLY_TAG].element_type = Tally
        if not on_arrival:
            return TimelineResult(acted.outputs, acted[TALLY_TAG])
        acted[ARRIVALS_TAG].element_type = self._arrival_type
        return TimelineResult(acted.outputs, acted[TALLY_TAG], acted[ARRIVALS_TAG])
