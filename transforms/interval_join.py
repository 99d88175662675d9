"""A stream-stream interval join: each left event with the right events of its key near it in event time.

A pipeline declares its interval once, as a named value, and joins two named streams by a field:

    LAST_24H = Interval(before_ms=86_400_000, after_ms=-1)     # [t - 1d, t)
    joined = {"left": payments, "right": payments} | IntervalJoin("device_id", LAST_24H, outer=True,
                                                                  lateness_ms=LATENESS_MS)

For each left event l, the right events r with the same key and
`l.event_time - before_ms <= r.event_time <= l.event_time + after_ms` (both ends inclusive) come out as
one `Joined(left=l, rights=(r, ...))`, the rights sorted by event time, then by the record itself.
Outer: every left comes out, with no rights if none matched; inner: only lefts that matched. Left and
right may be the same PCollection (a self join).

When. A left is emitted once, when the watermark has passed `l.event_time + max(after_ms, 0) +
lateness_ms`: the runner diverts records more than `lateness_ms` behind the watermark, so by then every
right that can match has arrived. The output's timestamp is that same point, the time of the timer
that emits it: Flink holds the stage's output watermark at the timer until it fires, so the output is
never late downstream, and the hold is released as the timer fires, so the stage does not lag its
input. It is later than the left's event time by `max(after_ms, 0) + lateness_ms`: a downstream stage
that re-stamps outputs with `left.event_time` and windows them must allow that much lateness.
(Beam Python's direct runner holds no watermark for timers; see `kappa.transforms.keyed_state`.)

State, per key: the rights, each until the watermark passes `r.event_time + before_ms +
max(after_ms, 0) + lateness_ms` (a left arriving later lies beyond its interval, and a left it
matches that is still waiting is emitted by then), and the lefts waiting to be emitted. One event-time
timer per key is set at the next of those points; when it fires it emits the lefts due and drops the
rights past their horizon, then moves on to the next point. Each firing reads the key's rights, so a key
with n rights within its horizon costs O(n) per left emitted and per right dropped. A bounded run
fires no timer before its input is read (`kappa.transforms.keyed_state`), so there every right of a
key is in state when its first left is emitted: O(n) per left for a key with n rights in the input.

Checked when the pipeline is built: both inputs' element types must be NamedTuple record types with the
key field and an int `event_time`, and the key's annotated type must be the same on both sides.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, NamedTuple, Tuple

import apache_beam as beam
from apache_beam.coders import BytesCoder, TupleCoder, VarIntCoder
from apache_beam.transforms import window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from kappa.transforms import keyed_state
from kappa.transforms.windowing import format_duration_ms

LEFT, RIGHT = 0, 1


@dataclasses.dataclass(frozen=True)
class Interval:
    """Right events r of a left event at t: `t - before_ms <= r.event_time <= t + after_ms`.

    `after_ms` may be negative down to `-before_ms`: `[t - 24h, t)` is `Interval(86_400_000, -1)`,
    `(t - 60s, t]` is `Interval(59_999, 0)`.
    """

    before_ms: int
    after_ms: int

    def __post_init__(self) -> None:
        for name in ("before_ms", "after_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"Interval {name} must be an int (ms), got {value!r}")
        if self.after_ms < -self.before_ms:
            raise ValueError(f"Interval is empty: after_ms {self.after_ms} is below -before_ms {-self.before_ms}")

    @property
    def wait_ms(self) -> int:
        """How long after a left's event time its latest possible right is."""
        return max(self.after_ms, 0)

    def contains(self, left_ms: int, right_ms: int) -> bool:
        return left_ms - self.before_ms <= right_ms <= left_ms + self.after_ms

    def describe(self) -> str:
        """The interval around the left's event time t, e.g. '[t - 1d, t)' or '(t - 1m, t]': each end
        written open or closed, whichever reads in whole units."""
        low = _end(-self.before_ms, -self.before_ms - 1, "[", "(")
        high = _end(self.after_ms, self.after_ms + 1, "]", ")")
        return f"{low[1]}{low[0]}, {high[0]}{high[1]}"


def _end(closed_ms: int, open_ms: int, closed: str, open_: str) -> Tuple[str, str]:
    """(t offset, bracket) of an interval end, given as its closed and its open offset from t."""
    if _round(open_ms) and not _round(closed_ms):
        return _offset(open_ms), open_
    return _offset(closed_ms), closed


def _round(ms: int) -> bool:
    return ms == 0 or not format_duration_ms(abs(ms)).endswith("ms")


def _offset(ms: int) -> str:
    if ms == 0:
        return "t"
    return f"t {'+' if ms > 0 else '-'} {format_duration_ms(abs(ms))}"


class Joined(NamedTuple):
    left: Any
    rights: Tuple[Any, ...]


_TIMED = TupleCoder([VarIntCoder(), BytesCoder()])  # (event time in ms, the encoded record)


class _JoinFn(beam.DoFn):
    """(key, (side, event time, encoded record)) -> Joined, from the key's one event-time timer."""

    LEFTS = BagStateSpec("lefts", _TIMED)  # waiting to be emitted
    RIGHTS = BagStateSpec("rights", _TIMED)
    DUE_AT = ReadModifyWriteStateSpec("due_at", VarIntCoder())  # the ms the timer is set for
    DUE = TimerSpec("due", TimeDomain.WATERMARK)

    def __init__(self, interval: Interval, outer: bool, lateness_ms: int,
                 left_coder: beam.coders.Coder, right_coder: beam.coders.Coder):
        self._interval = interval
        self._outer = outer
        self._emit_after_ms = interval.wait_ms + lateness_ms
        self._keep_right_ms = interval.before_ms + interval.wait_ms + lateness_ms
        self._left_coder = left_coder
        self._right_coder = right_coder

    def process(self, keyed, lefts=beam.DoFn.StateParam(LEFTS), rights=beam.DoFn.StateParam(RIGHTS),
                due_at=beam.DoFn.StateParam(DUE_AT), due=beam.DoFn.TimerParam(DUE)):
        side, event_ms, encoded = keyed[1]
        if side == LEFT:
            lefts.add((event_ms, encoded))
            at_ms = event_ms + self._emit_after_ms
        else:
            rights.add((event_ms, encoded))
            at_ms = event_ms + self._keep_right_ms
        armed = due_at.read()
        if armed is None or at_ms < armed:
            due_at.write(at_ms)
            keyed_state.fire_after(due, at_ms)

    @on_timer(DUE)
    def on_due(self, fired=beam.DoFn.TimestampParam, lefts=beam.DoFn.StateParam(LEFTS),
               rights=beam.DoFn.StateParam(RIGHTS), due_at=beam.DoFn.StateParam(DUE_AT),
               due=beam.DoFn.TimerParam(DUE)):
        now_ms = keyed_state.fired_ms(fired)
        waiting, stored = list(lefts.read()), list(rights.read())
        still_waiting = []
        for left in waiting:
            if left[0] + self._emit_after_ms > now_ms:
                still_waiting.append(left)
                continue
            joined = self._joined(left, stored)
            if joined.rights or self._outer:
                yield window.TimestampedValue(joined, Timestamp(micros=(left[0] + self._emit_after_ms) * 1000))
        kept = [right for right in stored if right[0] + self._keep_right_ms > now_ms]
        _replace(lefts, waiting, still_waiting)
        _replace(rights, stored, kept)
        next_ms = min([left[0] + self._emit_after_ms for left in still_waiting]
                      + [right[0] + self._keep_right_ms for right in kept], default=None)
        if next_ms is None:
            due_at.clear()
        else:
            due_at.write(next_ms)
            keyed_state.fire_after(due, next_ms)

    def _joined(self, left, stored) -> Joined:
        left_ms = left[0]
        rights = [self._right_coder.decode(encoded) for right_ms, encoded in stored
                  if self._interval.contains(left_ms, right_ms)]
        rights.sort(key=lambda r: (r.event_time, r))
        return Joined(self._left_coder.decode(left[1]), tuple(rights))


def _replace(bag, before: list, after: list) -> None:
    if len(after) == len(before):
        return
    bag.clear()
    for item in after:
        bag.add(item)


class IntervalJoin(beam.PTransform):
    """{"left": PCollection[L], "right": PCollection[R]} -> PCollection[Joined], one per left (outer)
    or per left with at least one right (inner); see the module's docstring."""

    def __init__(self, key: str, interval: Interval, outer: bool = False, lateness_ms: int = 0):
        super().__init__()
        if lateness_ms < 0:
            raise ValueError(f"IntervalJoin lateness_ms must not be negative, got {lateness_ms}")
        self._key = key
        self._interval = interval
        self._outer = outer
        self._lateness_ms = lateness_ms

    def describe(self) -> str:
        how = "left outer" if self._outer else "inner"
        return (f"{how} interval join on {self._key}: rights in {self._interval.describe()} of the left's "
                f"event time t, lateness {format_duration_ms(self._lateness_ms)}")

    def expand(self, inputs: Mapping[str, beam.PCollection]) -> beam.PCollection:
        key = self._key
        where = f"IntervalJoin on {key!r}"
        if not isinstance(inputs, Mapping) or set(inputs) != {"left", "right"}:
            given = sorted(inputs) if isinstance(inputs, Mapping) else type(inputs).__name__
            raise TypeError(f"{where} takes {{'left': ..., 'right': ...}}, got {given}")
        left, right = inputs["left"], inputs["right"]
        left_key = keyed_state.record_field_type(left, key, f"{where}: the left input", "join key")
        right_key = keyed_state.record_field_type(right, key, f"{where}: the right input", "join key")
        if left_key != right_key:
            raise TypeError(f"{where}: the key types differ: left {left.element_type.__name__}.{key} is "
                            f"{keyed_state.type_name(left_key)}, right {right.element_type.__name__}.{key} is "
                            f"{keyed_state.type_name(right_key)}")
        keyed_state.require_deterministic_key(left_key, where)
        left_coder = beam.coders.registry.get_coder(left.element_type)
        right_coder = beam.coders.registry.get_coder(right.element_type)
        tagged = Tuple[left_key, Tuple[int, int, bytes]]
        return (
            (left | "LeftByKey" >> beam.Map(_by_key, key, LEFT, left_coder).with_output_types(tagged),
             right | "RightByKey" >> beam.Map(_by_key, key, RIGHT, right_coder).with_output_types(tagged))
            | "BothSides" >> beam.Flatten()
            | "Join" >> beam.ParDo(_JoinFn(self._interval, self._outer, self._lateness_ms, left_coder, right_coder))
            .with_output_types(Joined)
        )


def _by_key(record, key: str, side: int, coder: beam.coders.Coder):
    return getattr(record, key), (side, record.event_time, coder.encode(record))
