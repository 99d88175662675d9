"""Keyed state that never lives forever: the horizon rule, the event-time timer that applies it, and the
build-time check of the record field a transform keys by.

The horizon rule. The runner diverts a record whose event time is more than the allowed lateness behind
the watermark, so once the watermark has passed `t + horizon` a piece of state kept for event time `t`
can meet no record it would change the answer for, as long as `horizon` covers the lateness and the
reach of the transform (a retention, a join interval). Each stateful transform here keeps, per key,
an event-time timer at the next such point and drops what is due when it fires; nothing is kept
without a timer that will remove it.

Facts these timers rely on (Beam 2.62):
- When a timer fires. Beam's model fires an event-time timer at `t` once the watermark *passes* `t`.
  Beam's Flink runner does (it registers the Flink timer at `t + 1 ms`, and Flink fires timers at or
  before its watermark); Beam Python's direct runner fires it once the watermark *reaches* `t`
  (`InMemoryUnmergedState.get_timers`: `timestamp <= watermark`). Watermarks here are whole
  milliseconds, so `fire_after` sets the timer at the last microsecond of `t`'s millisecond: both
  runners then fire it at the first watermark past `t`. The Fn API carries timer timestamps in
  milliseconds, so the portable runners see `t` itself.
- Watermark holds. The Python SDK gives an event-time timer a hold at its own timestamp, and has no
  way to set another (apache/beam#20705). Flink keeps a stage's output watermark at or below the holds
  of its pending timers, so an element a timer emits at the timer's time is never late downstream. A
  pending timer is behind the input watermark only until it fires (one set in the past fires right
  after the bundle that set it: Flink then processes the watermark again), so the hold does not keep
  the stage behind its input. Beam Python's direct runner has no holds for user timers (a TODO in
  `direct_userstate.py`): there an element a timer emits can be behind the stage's output watermark,
  and a windowing downstream drops it as late.
- Batch. The FnApiRunner and Flink's batch runner process every element of a key, then advance the
  watermark to the end of time and fire the timers in timestamp order (a timer set while firing, also
  in the past, fires in turn). State therefore never expires between two elements of a bounded input.
"""
from __future__ import annotations

import typing
from typing import Any, Type

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.timestamp import Timestamp

EVENT_TIME = "event_time"


def fire_after(timer, at_ms: int, tag: str = "") -> None:
    """Arms an event-time timer to fire once the watermark has passed `at_ms`, on every runner (see the
    module's docstring); setting it again moves it. A `tag` makes it one of a family of timers of the
    key (Beam's dynamic timer tags), each set and fired on its own."""
    timer.set(Timestamp(micros=at_ms * 1000 + 999), dynamic_timer_tag=tag)


def fired_ms(timestamp: Timestamp) -> int:
    """The millisecond a timer set by `fire_after` was set for: everything due at or before it is due."""
    return timestamp.micros // 1000


def record_field_type(pcoll: beam.PCollection, field: str, where: str, role: str) -> Type:
    """The annotated type of `field` in the NamedTuple record type of `pcoll`, which must also have an
    integer `event_time` and be in the global window (state and timers are per window). Raises
    TypeError with a one-line reason; `where` names what is checked (e.g. "IntervalJoin on
    'device_id': the left input") and `role` what the field is ("join key")."""
    window_fn = pcoll.windowing.windowfn
    if not isinstance(window_fn, GlobalWindows):
        raise TypeError(f"{where} is windowed ({type(window_fn).__name__}): "
                        "it must be in the global window (window after this transform)")
    element_type = pcoll.element_type
    if element_type is Any or element_type is beam.typehints.Any or element_type is None:
        raise TypeError(f"{where} is untyped (element type Any): cannot check the {role}")
    if not (isinstance(element_type, type) and issubclass(element_type, tuple) and hasattr(element_type, "_fields")):
        raise TypeError(f"{where} has element type {type_name(element_type)}, not a NamedTuple record type")
    fields = typing.get_type_hints(element_type)
    name = element_type.__name__
    for needed in (field, EVENT_TIME):
        if needed not in fields:
            raise TypeError(f"{where} has record type {name} with no field {needed!r}")
    if fields[EVENT_TIME] is not int:
        raise TypeError(f"{where} has record type {name} whose event_time is {type_name(fields[EVENT_TIME])}, not int")
    return fields[field]


def type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def require_deterministic_key(key_type: Type, where: str) -> None:
    """State is keyed by the encoded key: equal keys must encode alike (Beam only warns)."""
    if not beam.coders.registry.get_coder(key_type).is_deterministic():
        raise TypeError(f"{where}: key type {type_name(key_type)} has no deterministic coder")
