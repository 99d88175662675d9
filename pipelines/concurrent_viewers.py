"""Concurrent viewers per show and minute, from the heartbeats players send while a show plays.

A player sends a heartbeat about every 30 s. A viewer's heartbeats of a show form viewing sessions as
Beam's session windows define them (`VIEWING`, gap `--gap`, default 90 s): in event-time order, a new
session whenever the next heartbeat is at least the gap after the previous one; a session runs from
its first heartbeat to its last. Two outputs:
- `results`: per show and minute [M, M + 60 s), the distinct viewers with a session of the show that
  touches the minute (`M <= last` and `first < M + 60 s`); minutes nobody watched are not written;
- `sessions`: every session once, with its distinct heartbeat times counted (a redelivery counts once).

When a minute is final. A viewer's session touches minute M exactly when the viewer has a heartbeat
in M, or two consecutive heartbeats h < M <= M + 60 s <= h' less than the gap apart. The keyed stage
of a (viewer, show) (`OpenSessions`) works out, as each heartbeat arrives, the minutes it adds to
those the viewer's sessions touch (`minutes_added`: only the pair of its neighbours changes) and
emits a fact (show_id, M) for each, at the heartbeat's event time: each viewer counts once in a
minute, and a minute's count holds no viewer. Only heartbeats in [M - r, M + 60 s + r),
r = max(0, gap - 60 s), can add M, so each minute is a window of that span (`minute_windows`:
sliding, 60 s apart, declared from the session spec) counting its own facts, and its on-time result
is emitted when the watermark passes M + max(60 s, gap). By then every session that could still come
to touch M has: a later heartbeat can neither fall in M nor bridge it. A heartbeat arriving later,
within the allowed lateness, that adds the minute gives it a late pane (accumulating: the whole
count; Flink labels the first pane of a minute only late data opens ON_TIME); with `--early-firing`,
early panes count what has arrived so far (with `--early-count N`, at every N viewers counted in the
minute: a heartbeat that adds nothing to it is no element there).

A session is final once the watermark has passed its last heartbeat + gap + allowed lateness: only a
heartbeat before that could still extend it or merge it with another. Each session is written then,
once, by the same keyed stage, which holds a (viewer, show)'s heartbeat times until then, not by
Beam's merging session windows: Beam Python's direct runner stalls ("Monitor task detected a
pipeline stall") once a late heartbeat merges a session window that has fired, and a session written
once needs none of a window's panes.

Too late: a heartbeat more than the allowed lateness behind the watermark (`BehindWatermark`) goes to
the `late` output; every window that holds a fact is one whose span holds the heartbeat that added
it, and ends after it, so no window drops one silently.

State: a viewer's state (its open sessions' heartbeat times, keyed by viewer and show) is gone once
the watermark passes its last heartbeat + gap + allowed lateness. With a gap under a minute it stays
until the end of that heartbeat's minute + lateness, if that is later: until then a later session of
the viewer could touch the same minute, which must count it once. A show's minute windows hold only
counts, until each closes at M + max(60 s, gap) + allowed lateness.

Two plans, one definition. A stream, a replay and a backfill of each event (`--per-element`) run the
keyed sessions and the minute windows above; a stream's reads of a partition (and a replay's records
that arrive together) hand the keyed stage each viewer's heartbeats of the read at once
(`FoldHeartbeats`): a backlog's read holds dozens per viewer watching, a live read about one. A
backfill reads whole archives, so it takes the bounded plan (`ViewersOfArchive`): each file split's
heartbeats folded the same way, each key's times grouped and split into sessions (`session_runs`),
each show's minutes counted from its sessions' spans; no windows, no timers, and the same records
(the tests run both plans).

Tally: heartbeats used (distinct heartbeats of the written sessions) and duplicates (redeliveries).

    kappa run concurrent-viewers --input 'archive/*.avro' --output out/
    kappa run concurrent-viewers --mode stream --runner flink --input-topic heartbeats=heartbeats \\
        --allowed-lateness 2m
"""
from __future__ import annotations

import bisect
import collections
import dataclasses
from typing import Any, ClassVar, DefaultDict, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

import apache_beam as beam
from apache_beam.transforms.window import IntervalWindow, TimestampedValue

from kappa.pipelines.model import MAIN_OUTPUT, TALLY, Input, Output, Pipeline
from kappa.transforms.aggregation import Arrives
from kappa.transforms.distinct_count import DistinctCount, DistinctCountPanes
from kappa.transforms.keyed_timeline import TALLY_TAG, BundleTally, KeyedTimeline, Step
from kappa.transforms.tally import DUPLICATES, USED, Tally
from kappa.transforms.window_result import FormatWindowResults, WindowFigures, window_result
from kappa.transforms.windowing import WindowKind, WindowSpec, to_timestamp

HEARTBEATS, SESSIONS = "heartbeats", "sessions"
MINUTE_MS = 60_000
VIEWING = WindowSpec(kind=WindowKind.SESSION, size_ms=90_000)  # size_ms: the session gap

ViewerShow = Tuple[str, str]


def reach_ms(gap_ms: int) -> int:
    """How far before and after a minute a heartbeat can still decide it: a bridge spans less than the gap."""
    return max(0, gap_ms - MINUTE_MS)


def minute_windows(sessions: WindowSpec) -> WindowSpec:
    """Minute M as the window [M - r, M + 60 s + r), r = `reach_ms(gap)`, with the session spec's trigger,
    lateness and accumulation: sliding windows of 60 s + 2r every 60 s, starting r before each minute."""
    reach = reach_ms(sessions.size_ms)
    return dataclasses.replace(sessions, kind=WindowKind.SLIDING, size_ms=MINUTE_MS + 2 * reach,
                               period_ms=MINUTE_MS, offset_ms=-reach % MINUTE_MS)


def _minute(ms: int) -> int:
    return ms - ms % MINUTE_MS


def minutes_covered(times: Sequence[int], gap_ms: int) -> Set[int]:
    """The minutes the sessions of sorted distinct heartbeat times touch: each heartbeat's, and every
    minute between two consecutive heartbeats less than the gap apart."""
    minutes: Set[int] = set()
    for i, t in enumerate(times):
        minutes.add(_minute(t))
        if i and t - times[i - 1] < gap_ms:
            minutes.update(range(_minute(times[i - 1]) + MINUTE_MS, _minute(t), MINUTE_MS))
    return minutes


def minutes_added(t: int, before: Optional[int], after: Optional[int], gap_ms: int) -> Set[int]:
    """The minutes a new heartbeat at `t` adds to those its viewer's sessions touch, given its neighbours
    (the held heartbeats just before and after it, if any): every other pair of consecutive heartbeats,
    and what it spans, stays as it was."""
    neighbours = [n for n in (before, after) if n is not None]
    return minutes_covered(sorted(neighbours + [t]), gap_ms) - minutes_covered(neighbours, gap_ms)


class MinuteOfWindow:
    """A minute window's Beam interval -> the minute it decides, [start + r, start + r + 60 s)."""

    def __init__(self, reach: int):
        self._reach = reach

    def __call__(self, win: IntervalWindow) -> Tuple[int, int]:
        start = win.start.micros // 1000 + self._reach
        return start, start + MINUTE_MS


class _InItsMinute(beam.DoFn):
    """A (show_id, minute) fact, in every minute window whose span holds its heartbeat -> the fact in
    its own minute's window only."""

    def __init__(self, gap_ms: int):
        self._minute_of = MinuteOfWindow(reach_ms(gap_ms))

    def process(self, fact: Tuple[str, int], win=beam.DoFn.WindowParam):
        if self._minute_of(win)[0] == fact[1]:
            yield fact


Times = Tuple[int, ...]  # a (viewer, show)'s heartbeat times, as they arrived (a redelivery repeats one)


def session_record(key: ViewerShow, first: int, last: int, heartbeats: int) -> Dict[str, Any]:
    """`heartbeats`: its distinct heartbeat times."""
    viewer, show = key
    return {"key": f"{viewer}:{show}:{first}", "viewer_id": viewer, "show_id": show,
            "first": first, "last": last, "heartbeats": heartbeats}


class OpenSessions:
    """The `KeyedTimeline` logic of a (viewer, show)'s sessions. As a heartbeat arrives, a fact
    (show_id, minute) for each minute it adds to those the sessions touch. Its heartbeat times are held
    until the watermark has passed a session's last heartbeat + gap + lateness (`_settled_ms`); then
    the session is written, once, and its heartbeats dropped. Before that, any heartbeat the source
    lets through may still extend the session or merge it with the next; after it, none can (it would
    be too late)."""

    def __init__(self, gap_ms: int, lateness_ms: int):
        self._gap_ms = gap_ms
        self._lateness_ms = lateness_ms

    def _settled_ms(self, last: int) -> int:
        """When a session ending at `last` is final and forgotten: past the gap and the lateness, and
        past the end of its last minute (later only for a gap under a minute), until which a later
        session of the viewer could touch that minute again."""
        return max(last + self._gap_ms, _minute(last) + MINUTE_MS) + self._lateness_ms

    def points(self, entry: Times) -> Tuple[int]:
        """When the earliest of the heartbeats' sessions may be final (the stage's one timer per key is
        then armed at the earliest held session's, `act`'s `next_ms`)."""
        return (self._settled_ms(min(entry)),)

    def arrive(self, key: ViewerShow, entries: List[Times], entry: Times) -> List[Tuple[int, Tuple[str, int]]]:
        """(event time, fact) for each minute the entry's heartbeats add, at the heartbeat that adds it:
        a time in the span of that minute's window."""
        held = sorted({t for times in entries for t in times})
        facts = []
        for t in sorted(set(entry)):
            at = bisect.bisect_left(held, t)
            if at < len(held) and held[at] == t:
                continue  # a redelivery adds nothing
            before, after = held[at - 1] if at else None, held[at] if at < len(held) else None
            facts.extend((t, (key[1], minute)) for minute in sorted(minutes_added(t, before, after, self._gap_ms)))
            held.insert(at, t)
        return facts

    def act(self, key: ViewerShow, entries: List[Times], now_ms: int) -> Step:
        times = sorted(t for entry in entries for t in entry)
        outputs, kept, tally, next_ms = [], [], [], None
        for lo, hi in session_runs(times, self._gap_ms):
            settled_ms = self._settled_ms(times[hi - 1])
            if settled_ms > now_ms:
                kept.append(tuple(times[lo:hi]))
                next_ms = settled_ms if next_ms is None else min(next_ms, settled_ms)
                continue
            distinct = len(set(times[lo:hi]))
            outputs.append((now_ms, session_record(key, times[lo], times[hi - 1], distinct)))
            tally.append(Tally(HEARTBEATS, USED, distinct))
            if hi - lo > distinct:
                tally.append(Tally(HEARTBEATS, DUPLICATES, hi - lo - distinct))
        return Step(outputs=outputs, kept=kept if outputs else None, tally=tally, next_ms=next_ms)


def _by_viewer_show(heartbeat: Any) -> Tuple[ViewerShow, Times]:
    return (heartbeat.viewer_id, heartbeat.show_id), (heartbeat.event_time,)


def _viewers(value: DistinctCount) -> Dict[str, int]:
    return {"viewers": value.distinct}


def _as_count(counted: Tuple[str, int]) -> Tuple[str, DistinctCount]:
    return counted[0], DistinctCount(distinct=counted[1], seen=counted[1])


class CountViewers(beam.PTransform):
    """(show_id, minute) facts, one per viewer and minute (`OpenSessions.arrive`) -> (show_id,
    DistinctCount) per pane of each minute somebody watched."""

    def __init__(self, sessions: WindowSpec):
        super().__init__()
        self._sessions = sessions

    def expand(self, facts):
        minutes = minute_windows(self._sessions)
        return (facts
                | "MinuteWindows" >> minutes.window_into()
                | "InItsMinute" >> beam.ParDo(_InItsMinute(self._sessions.size_ms)).with_output_types(Tuple[str, int])
                | "CountViewers" >> beam.combiners.Count.PerKey()
                | "AsCount" >> beam.Map(_as_count)
                | "CountOnce" >> DistinctCountPanes(minutes, HEARTBEATS)).counts


class Sessionize(beam.PTransform):
    """Heartbeats, each event or folded per (viewer, show) as a read held them (`FoldHeartbeats`) ->
    (session records, tally, (show_id, minute) facts): each session once, when final, and each minute
    of it as it is known (`OpenSessions`)."""

    def __init__(self, sessions: WindowSpec, arrives: Arrives):
        super().__init__()
        self._sessions = sessions
        self._arrives = arrives

    def expand(self, heartbeats):
        spec = self._sessions
        entry = _by_viewer_show if self._arrives is Arrives.EVENTS else _as_partial
        final = (heartbeats
                 | "ByViewerShow" >> beam.Map(entry).with_output_types(Tuple[ViewerShow, Times])
                 | "Sessions" >> KeyedTimeline(OpenSessions(spec.size_ms, spec.allowed_lateness_ms),
                                               Dict[str, Any], Tuple[str, int]))
        return final.outputs, final.tally, final.arrivals


def _as_partial(partial: Tuple[ViewerShow, Times]) -> Tuple[ViewerShow, Times]:
    return partial


def session_runs(times: Sequence[int], gap_ms: int) -> Iterator[Tuple[int, int]]:
    """The sessions of sorted heartbeat times (a redelivery repeats one), as [lo, hi) index ranges: a new
    one wherever the next heartbeat is at least the gap after the previous one, as Beam's session
    windows merge."""
    start = 0
    for i in range(1, len(times)):
        if times[i] - times[i - 1] >= gap_ms:
            yield start, i
            start = i
    if times:
        yield start, len(times)


class FoldHeartbeats:
    """The heartbeats a reader holds at once (a backfill's split, a read of a Kafka partition) ->
    ((viewer_id, show_id), their times) per viewer and show, at the earliest (picklable). A backlog's
    read holds many heartbeats of each viewer watching: a stream's keyed stage then takes them at once."""

    def __call__(self, heartbeats: List[Any]) -> Iterator[TimestampedValue]:
        held: Dict[ViewerShow, List[int]] = {}
        for heartbeat in heartbeats:
            key = (heartbeat.viewer_id, heartbeat.show_id)
            times = held.get(key)
            if times is None:
                held[key] = [heartbeat.event_time]
            else:
                times.append(heartbeat.event_time)
        for key, times in held.items():
            yield TimestampedValue((key, tuple(times)), to_timestamp(min(times)))


MINUTES = "minutes"  # _SessionsOfKey's output of (show_id, (viewer_id, first minute, last minute))


class _SessionsOfKey(beam.DoFn):
    """Bounded plan: a (viewer, show)'s partials -> its session records, each session's span of minutes
    (MINUTES), and the tally."""

    def __init__(self, gap_ms: int):
        self._gap_ms = gap_ms

    def start_bundle(self) -> None:
        self._tally = BundleTally()

    def process(self, grouped: Tuple[ViewerShow, Iterable[Times]]):
        key, partials = grouped
        distinct: Set[int] = set()
        seen = 0
        for times in partials:
            distinct.update(times)
            seen += len(times)
        ordered = sorted(distinct)
        for lo, hi in session_runs(ordered, self._gap_ms):
            first, last = ordered[lo], ordered[hi - 1]
            yield session_record(key, first, last, hi - lo)
            yield beam.pvalue.TaggedOutput(MINUTES, (key[1], (key[0], first - first % MINUTE_MS,
                                                              last - last % MINUTE_MS)))
        self._tally.add(Tally(HEARTBEATS, USED, len(ordered)))
        if seen > len(ordered):
            self._tally.add(Tally(HEARTBEATS, DUPLICATES, seen - len(ordered)))

    def finish_bundle(self):
        return self._tally.flushed()


def _minutes_of_show(grouped: Tuple[str, Iterable[Tuple[str, int, int]]]) -> Iterator[Dict[str, Any]]:
    """Bounded plan: a show's sessions, as (viewer, first minute, last minute) -> each minute's result."""
    show, spans = grouped
    watching: DefaultDict[int, Set[str]] = collections.defaultdict(set)
    for viewer, first, last in spans:
        for minute in range(first, last + 1, MINUTE_MS):
            watching[minute].add(viewer)
    for minute, viewers in watching.items():
        yield window_result("show_id", show, minute, minute + MINUTE_MS, {"viewers": len(viewers)})


class ViewersOfArchive(beam.PTransform):
    """A backfill's folded heartbeats (`FoldHeartbeats`) -> (results, sessions, tally), by the definitions
    themselves: each (viewer, show)'s heartbeat times grouped, split into sessions, and each show's
    minutes counted from its sessions' spans. No windows, no timers; the same records as the
    windowed plan (the tests run both)."""

    def __init__(self, gap_ms: int):
        super().__init__()
        self._gap_ms = gap_ms

    def expand(self, partials):
        sessions = (partials
                    | "GroupByViewerShow" >> beam.GroupByKey()
                    | "Sessions" >> beam.ParDo(_SessionsOfKey(self._gap_ms)).with_outputs(
                        MINUTES, TALLY_TAG, main=SESSIONS))
        results = (sessions[MINUTES]
                   | "GroupByShow" >> beam.GroupByKey()
                   | "MinutesOfShow" >> beam.FlatMap(_minutes_of_show).with_output_types(Dict[str, Any]))
        return results, sessions[SESSIONS], sessions[TALLY_TAG]


@dataclasses.dataclass(frozen=True)
class ConcurrentViewers(Pipeline):
    name: ClassVar[str] = "concurrent-viewers"
    description: ClassVar[str] = ("distinct viewers per show per minute from viewing sessions of heartbeats "
                                  "(gap 90s), and every session")
    inputs: ClassVar[Mapping[str, Input]] = {HEARTBEATS: Input("heartbeat", key="viewer_id")}
    outputs: ClassVar[Mapping[str, Output]] = {
        MAIN_OUTPUT: Output("show-minute-viewers", topic="concurrent-viewers",
                            doc="one result per pane: {key, show_id, window_start, window_end, viewers, timing, "
                                "is_last}"),
        SESSIONS: Output("viewing-session", topic="viewing-sessions",
                         doc="every session once, when final: {key, viewer_id, show_id, first, last, heartbeats}"),
    }

    spec: Optional[WindowSpec] = VIEWING

    def configured(self, spec: Optional[WindowSpec] = None,
                   allowed_lateness_ms: Optional[int] = None) -> "ConcurrentViewers":
        if spec is not None and spec.kind is not WindowKind.SESSION:
            raise ValueError(f"{self.name} windows viewing sessions: set their gap with --gap, "
                             f"not --window-kind {spec.kind.value}")
        return super().configured(spec, allowed_lateness_ms)

    def windowing(self) -> Dict[str, WindowSpec]:
        return {SESSIONS: self.spec, "minutes": minute_windows(self.spec)}

    def fold(self, stream: str) -> FoldHeartbeats:
        """A backfill's splits are folded for the bounded plan (`ViewersOfArchive`), a stream's reads for
        its keyed stage."""
        return FoldHeartbeats()

    def expand(self, streams: Mapping[str, beam.PCollection], arrives: Mapping[str, Arrives]) -> Dict[str, Any]:
        heartbeats = streams[HEARTBEATS]
        if self.bounded and arrives[HEARTBEATS] is Arrives.PARTIALS:
            results, sessions, tally = heartbeats | "Viewers" >> ViewersOfArchive(self.spec.size_ms)
            return {MAIN_OUTPUT: results, SESSIONS: sessions, TALLY: tally}
        sessions, tally, facts = heartbeats | "Sessionize" >> Sessionize(self.spec, arrives[HEARTBEATS])
        viewers = facts | "CountViewers" >> CountViewers(self.spec)
        minute_of = MinuteOfWindow(reach_ms(self.spec.size_ms))
        return {MAIN_OUTPUT: viewers | "Format" >> FormatWindowResults("show_id", _viewers, self.bounded, minute_of),
                SESSIONS: sessions, TALLY: tally}

    def figures(self) -> WindowFigures:
        return WindowFigures("show_id", ("viewers",), self.spec.accumulation)


PIPELINE = ConcurrentViewers()
