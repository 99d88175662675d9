"""The one place a pipeline states its event-time behaviour.

A `WindowSpec` names three orthogonal things, each mapped onto Beam's own objects so every runner
(DirectRunner, Flink, Dataflow) reads the same declaration:
- the windower: fixed, sliding or session windows (`window_fn`);
- the trigger: on-time at the watermark, optional early firings (processing-time delay or element
  count), and a late firing for every late record while the window is within its allowed lateness;
- lateness and accumulation: how long a window accepts late records, and whether each pane repeats
  the whole result (accumulating) or only what is new since the previous pane (discarding).

Sources stamp each event with its own event time (never processing time); `WindowSpec.window_into`
applies the spec.
"""
from __future__ import annotations

import argparse
import dataclasses
import enum
import re
from typing import Iterable, Optional, Set

import apache_beam as beam
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import Duration, Timestamp
from apache_beam.utils.windowed_value import WindowedValue

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_MILLIS_PER_UNIT = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
HOUR_MS = _MILLIS_PER_UNIT["h"]
DAY_MS = _MILLIS_PER_UNIT["d"]
# Flag bounds: far inside Beam's timestamp range for any event time the contract accepts, and beyond
# any window or lateness a job needs.
MAX_WINDOW_MS = 366 * DAY_MS  # --window, --period, --gap, --early-firing
MAX_LATENESS_MS = 365 * DAY_MS  # --allowed-lateness, --max-out-of-orderness


def parse_duration_ms(text: str) -> int:
    """'90s' -> 90000. Units ms, s, m, h, d; a bare number is refused, so '60' cannot mean two things."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"bad duration {text!r}: use a whole number with a unit, e.g. 500ms, 60s, 5m, 1h")
    return int(match.group(1)) * _MILLIS_PER_UNIT[match.group(2)]


def duration_flag_ms(flag: str, text: str, at_most_ms: int, positive: bool = True) -> int:
    """A flag's duration in ms, within (0 or 1 ms, `at_most_ms`); ValueError names the flag and its bound."""
    lowest = "positive" if positive else "zero or positive"
    if text.strip().startswith("-"):
        raise ValueError(f"{flag} must be {lowest}, got {text}")
    try:
        duration_ms = parse_duration_ms(text)
    except ValueError as err:
        raise ValueError(f"{flag}: {err}") from None
    if positive and duration_ms == 0:
        raise ValueError(f"{flag} must be {lowest}, got {text}")
    if duration_ms > at_most_ms:
        raise ValueError(f"{flag} must be at most {format_duration_ms(at_most_ms)}, got {text}")
    return duration_ms


def format_duration_ms(ms: int) -> str:
    for unit in ("d", "h", "m", "s"):
        if ms and ms % _MILLIS_PER_UNIT[unit] == 0:
            return f"{ms // _MILLIS_PER_UNIT[unit]}{unit}"
    return f"{ms}ms"


def _beam_duration(ms: int) -> Duration:
    return Duration(micros=ms * 1000)


class WindowKind(enum.Enum):
    FIXED = "fixed"
    SLIDING = "sliding"
    SESSION = "session"


class Accumulation(enum.Enum):
    ACCUMULATING = "accumulating"
    DISCARDING = "discarding"


@dataclasses.dataclass(frozen=True)
class WindowSpec:
    """Event-time windowing, trigger, lateness and accumulation of one pipeline; all durations in ms.

    `size_ms` is the window length for fixed and sliding windows and the gap for session windows;
    `offset_ms` shifts where fixed and sliding windows start (Beam's offset: a window starts at
    offset + k * period).
    """

    kind: WindowKind = WindowKind.FIXED
    size_ms: int = 60_000
    period_ms: Optional[int] = None
    offset_ms: int = 0
    allowed_lateness_ms: int = 0
    early_firing_delay_ms: Optional[int] = None
    early_firing_count: Optional[int] = None
    accumulation: Accumulation = Accumulation.ACCUMULATING

    def __post_init__(self) -> None:
        if self.size_ms <= 0:
            raise ValueError("window size (or session gap) must be positive")
        if self.kind is WindowKind.SLIDING:
            if not self.period_ms or self.period_ms <= 0:
                raise ValueError("sliding windows need a positive --period")
            if self.period_ms > self.size_ms:
                raise ValueError("sliding --period must not exceed --window")
        elif self.period_ms is not None:
            raise ValueError("--period applies to sliding windows only")
        if self.kind is WindowKind.SESSION and self.offset_ms:
            raise ValueError("session windows have no offset")
        if not 0 <= self.offset_ms < (self.period_ms or self.size_ms):
            raise ValueError("a window offset must be at least 0 and less than the period")
        if self.allowed_lateness_ms < 0:
            raise ValueError("allowed lateness must not be negative")
        if self.early_firing_delay_ms is not None and (
                self.early_firing_delay_ms <= 0 or self.early_firing_delay_ms % 1000):
            raise ValueError("early firing delay must be a positive whole number of seconds "
                             "(Beam's processing-time trigger counts whole seconds)")
        if self.early_firing_count is not None and self.early_firing_count <= 0:
            raise ValueError("early firing count must be positive")
        if self.early_firing_delay_ms is not None and self.early_firing_count is not None:
            raise ValueError("choose one early firing: a processing-time delay or an element count")

    @property
    def fires_once(self) -> bool:
        """Each window emits exactly one pane (on time, final), so its result needs no per-pane bookkeeping."""
        return self.early_firing_delay_ms is None and self.early_firing_count is None and self.allowed_lateness_ms == 0

    def window_fn(self) -> window.WindowFn:
        size = _beam_duration(self.size_ms)
        offset = Timestamp(micros=self.offset_ms * 1000)  # Beam takes offsets as timestamps
        if self.kind is WindowKind.FIXED:
            return window.FixedWindows(size, offset)
        if self.kind is WindowKind.SLIDING:
            return window.SlidingWindows(size, _beam_duration(self.period_ms), offset)
        return window.Sessions(size)

    def trigger_fn(self) -> trigger.TriggerFn:
        """On time at the watermark; early and late firings as declared.

        The late firing exists only when the window accepts late data: without it the on-time pane
        finishes the trigger, which is what marks that pane `is_last`.
        """
        early = None
        if self.early_firing_delay_ms is not None:
            early = trigger.AfterProcessingTime(self.early_firing_delay_ms // 1000)
        elif self.early_firing_count is not None:
            early = trigger.AfterCount(self.early_firing_count)
        late = trigger.AfterCount(1) if self.allowed_lateness_ms > 0 else None
        return trigger.AfterWatermark(early=early, late=late)

    def window_into(self) -> beam.WindowInto:
        """Beam's windowing for the spec. The runner always accumulates panes, so an aggregation can
        recognise a redelivery across panes; the spec's accumulation is how results are reported."""
        return beam.WindowInto(
            self.window_fn(),
            trigger=self.trigger_fn(),
            accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
            allowed_lateness=_beam_duration(self.allowed_lateness_ms),
        )

    def final_only(self) -> "WindowSpec":
        """The same windows with one final pane each: what a bounded backfill computes.

        A backfill's watermark jumps to the end of time once the archive is read, so no record is late,
        early panes would only be noise, and with one pane accumulating and discarding agree; the
        result equals the final result of a streaming run.
        """
        return dataclasses.replace(
            self,
            early_firing_delay_ms=None,
            early_firing_count=None,
            allowed_lateness_ms=0,
            accumulation=Accumulation.ACCUMULATING,
        )

    def describe(self) -> str:
        parts = [f"{self.kind.value} {format_duration_ms(self.size_ms)}"]
        if self.kind is WindowKind.SLIDING:
            parts.append(f"every {format_duration_ms(self.period_ms)}")
        if self.offset_ms:
            parts.append(f"offset {format_duration_ms(self.offset_ms)}")
        if self.early_firing_delay_ms is not None:
            parts.append(f"early every {format_duration_ms(self.early_firing_delay_ms)}")
        if self.early_firing_count is not None:
            parts.append(f"early every {self.early_firing_count} records")
        parts.append(f"lateness {format_duration_ms(self.allowed_lateness_ms)}")
        parts.append(self.accumulation.value)
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind.value,
            "size_ms": self.size_ms,
            "period_ms": self.period_ms,
            "offset_ms": self.offset_ms,
            "allowed_lateness_ms": self.allowed_lateness_ms,
            "early_firing_delay_ms": self.early_firing_delay_ms,
            "early_firing_count": self.early_firing_count,
            "accumulation": self.accumulation.value,
        }


@dataclasses.dataclass(frozen=True)
class Slots:
    """A window spec's windows as runs of whole slots: fixed windows are one slot, sliding windows whose
    size is a multiple of their period `size / period` slots of a period each."""

    ms: int
    offset_ms: int
    per_window: int

    @staticmethod
    def of(spec: WindowSpec) -> Optional["Slots"]:
        """None for windows that are not runs of slots (sessions, a size that is not a multiple of the period)."""
        if spec.kind is WindowKind.FIXED:
            return Slots(spec.size_ms, spec.offset_ms, 1)
        if spec.kind is WindowKind.SLIDING and spec.size_ms % spec.period_ms == 0:
            return Slots(spec.period_ms, spec.offset_ms, spec.size_ms // spec.period_ms)
        return None

    def start(self, event_ms: int) -> int:
        return event_ms - (event_ms - self.offset_ms) % self.ms

    def window_starts(self, slot_starts: Iterable[int]) -> Set[int]:
        """The starts of every window that holds one of the slots."""
        return {slot - back * self.ms for slot in slot_starts for back in range(self.per_window)}


def add_window_flags(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Windowing flags; each left unset keeps the pipeline's own default. Returns their group."""
    group = parser.add_argument_group("windowing and event time (unset: the pipeline's default, see "
                                      "`kappa run NAME --help`)")
    pipelines = "default: the pipeline's"
    window_max, lateness_max = format_duration_ms(MAX_WINDOW_MS), format_duration_ms(MAX_LATENESS_MS)
    group.add_argument("--window-kind", choices=[k.value for k in WindowKind],
                       help=f"{pipelines}; --gap means session, --period sliding")
    group.add_argument("--window", metavar="DURATION", help=f"window size, e.g. 60s, at most {window_max} ({pipelines})")
    group.add_argument("--period", metavar="DURATION",
                       help=f"sliding windows: start a window every DURATION, at most --window ({pipelines})")
    group.add_argument("--gap", metavar="DURATION",
                       help=f"session windows: close after DURATION of silence, at most {window_max} ({pipelines})")
    group.add_argument("--allowed-lateness", metavar="DURATION",
                       help=f"replay and stream: how long a window accepts late records, at most {lateness_max} "
                       f"({pipelines})")
    group.add_argument("--early-firing", metavar="DURATION",
                       help=f"replay and stream: an early pane every DURATION of processing time, whole seconds, "
                       f"at most {window_max} ({pipelines})")
    group.add_argument("--early-count", metavar="N", type=int,
                       help=f"replay and stream: an early pane every N records ({pipelines})")
    group.add_argument("--accumulation", choices=[a.value for a in Accumulation],
                       help=f"replay and stream: each pane the whole result, or what is new since the last "
                       f"({pipelines})")
    return group


def spec_from_args(args: argparse.Namespace, default: WindowSpec) -> WindowSpec:
    """Overlay the flags a user gave on a pipeline's default spec; raises ValueError with a readable reason."""
    kind = WindowKind(args.window_kind) if args.window_kind else default.kind
    if args.gap and args.window_kind is None:
        kind = WindowKind.SESSION
    if args.period and args.window_kind is None:
        kind = WindowKind.SLIDING
    if args.gap and kind is not WindowKind.SESSION:
        raise ValueError("--gap applies to session windows only")
    if args.gap and args.window:
        raise ValueError("session windows take --gap, not --window")
    size_flag = "--gap" if args.gap else "--window"
    size = args.gap or args.window
    changes: dict = {"kind": kind}
    if size:
        changes["size_ms"] = duration_flag_ms(size_flag, size, MAX_WINDOW_MS)
    changes["period_ms"] = duration_flag_ms("--period", args.period, MAX_WINDOW_MS) if args.period else (
        default.period_ms if kind is WindowKind.SLIDING else None)
    if args.allowed_lateness:
        changes["allowed_lateness_ms"] = duration_flag_ms("--allowed-lateness", args.allowed_lateness,
                                                          MAX_LATENESS_MS, positive=False)
    if args.early_firing:
        changes["early_firing_delay_ms"] = duration_flag_ms("--early-firing", args.early_firing, MAX_WINDOW_MS)
        changes["early_firing_count"] = None
    if args.early_count is not None:
        if args.early_count < 1:
            raise ValueError(f"--early-count must be positive, got {args.early_count}")
        changes["early_firing_count"] = args.early_count
        changes["early_firing_delay_ms"] = None
        if args.early_firing:
            raise ValueError("choose one of --early-firing and --early-count")
    if args.accumulation:
        changes["accumulation"] = Accumulation(args.accumulation)
    return dataclasses.replace(default, **changes)


def to_timestamp(event_time_ms: int) -> Timestamp:
    return Timestamp(micros=event_time_ms * 1000)


# Beam builds a GlobalWindow's timestamp from its proto constant each time one is made, several
# microseconds that a DoFn yielding TimestampedValue pays per element in the global window (the
# runner assigns it anew); one made once is what every element carries.
_GLOBAL_WINDOWS = (window.GlobalWindow(),)


def in_global_window(value, event_time_ms: int) -> WindowedValue:
    """What a DoFn whose output is in the global window yields for `value` at `event_time_ms`."""
    return WindowedValue(value, to_timestamp(event_time_ms), _GLOBAL_WINDOWS)
