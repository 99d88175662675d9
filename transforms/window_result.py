"""One windowed aggregate as a downstream consumer sees it: key, window bounds and pane timing.

The pane fields let a consumer act on speculative results without being fooled by them: EARLY panes
may still change, the ON_TIME pane is the result as of the watermark, LATE panes correct it, and
`is_last` marks the pane after which the window will not change again.
"""
from __future__ import annotations

import math

from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import apache_beam as beam
from apache_beam.transforms.window import IntervalWindow
from apache_beam.utils.windowed_value import PaneInfoTiming

from kappa.transforms.windowing import Accumulation

_TIMING = {
    PaneInfoTiming.EARLY: "EARLY",
    PaneInfoTiming.ON_TIME: "ON_TIME",
    PaneInfoTiming.LATE: "LATE",
    PaneInfoTiming.UNKNOWN: "UNKNOWN",
}


def window_key(key: str, window_start_ms: int) -> str:
    return f"{key}:{window_start_ms}"


def window_result(key_field: str, key: str, start_ms: int, end_ms: int, fields: Dict[str, Any],
                  timing: str = "ON_TIME", is_last: bool = True) -> Dict[str, Any]:
    """The record of one pane; by default a bounded plan's one final result of a window."""
    return {"key": window_key(key, start_ms), key_field: key, "window_start": start_ms, "window_end": end_ms,
            **fields, "timing": timing, "is_last": is_last}


Bounds = Callable[[IntervalWindow], Tuple[int, int]]  # a Beam window -> the [start, end) ms a result reports


def window_bounds(win: IntervalWindow) -> Tuple[int, int]:
    return win.start.micros // 1000, win.end.micros // 1000


class _ToWindowResult(beam.DoFn):
    def __init__(self, key_field: str, fields: Callable[[Any], Dict[str, Any]], bounded: bool, bounds: Bounds):
        self._key_field = key_field
        self._fields = fields
        self._bounds = bounds
        # A backfill's one pane per window is its final, on-time result; Flink's batch runner leaves
        # its timing UNKNOWN.
        self._timing = {**_TIMING, PaneInfoTiming.UNKNOWN: "ON_TIME"} if bounded else _TIMING

    def process(
        self, keyed: Tuple[str, Any], win=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam
    ) -> Iterable[Dict[str, Any]]:
        key, value = keyed
        start_ms, end_ms = self._bounds(win)
        yield window_result(self._key_field, key, start_ms, end_ms, self._fields(value), self._timing[pane.timing],
                            pane.is_last)


class FormatWindowResults(beam.PTransform):
    """(key, value) pairs of a windowed aggregation -> result dicts with window bounds and pane timing.

    The dict is `{"key": "<key>:<window_start_ms>", <key_field>: key, "window_start": ms,
    "window_end": ms, **fields(value), "timing": "EARLY"|"ON_TIME"|"LATE", "is_last": bool}`; `bounded`:
    the input is a backfill's, whose one pane per window is on time whatever the runner says; `bounds`:
    the interval a result reports for its Beam window, when the two differ (the window's own by default).
    """

    def __init__(self, key_field: str, fields: Callable[[Any], Dict[str, Any]], bounded: bool = False,
                 bounds: Bounds = window_bounds):
        super().__init__()
        self._key_field = key_field
        self._fields = fields
        self._bounded = bounded
        self._bounds = bounds

    def expand(self, pcoll):
        return pcoll | beam.ParDo(_ToWindowResult(self._key_field, self._fields, self._bounded, self._bounds))


class WindowFigures(beam.CombineFn):
    """Window results, pane by pane -> a windowed pipeline's summary figures, counted in the job: how
    many windows, the first and last window start, and per value field its total and its total per
    key. The first value field is the progress field: accumulating, a window's final pane is the one
    furthest on by it (a count of distinct records, which only grows); discarding, the panes' value
    fields add up to the final. `renamed` gives a field's total another name, placed last.

    The accumulator holds one entry per window: its latest pane, or (discarding) each field's deltas,
    added exactly at the end, so any order of panes and merges gives the same figures."""

    def __init__(self, key_field: str, value_fields: Tuple[str, ...], accumulation: Accumulation,
                 renamed: Optional[Dict[str, str]] = None):
        self._key_field = key_field
        self._value_fields = value_fields
        self._accumulating = accumulation is Accumulation.ACCUMULATING
        self._renamed = renamed or {}

    def create_accumulator(self) -> Dict[str, Dict[str, Any]]:
        return {}

    def add_input(self, finals: Dict[str, Dict[str, Any]], result: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
        window = {self._key_field: result[self._key_field], "window_start": result["window_start"]}
        if self._accumulating:
            window.update((field, result[field]) for field in self._value_fields)
        else:
            window.update((field, [result[field]]) for field in self._value_fields)
        self._fold(finals, result["key"], window)
        return finals

    def _fold(self, finals: Dict[str, Dict[str, Any]], key: str, window: Dict[str, Any]) -> None:
        current = finals.get(key)
        if current is None:
            finals[key] = window
        elif self._accumulating:
            progress = self._value_fields[0]
            if window[progress] > current[progress]:
                finals[key] = window
        else:
            for field in self._value_fields:
                current[field] = current[field] + window[field]

    def merge_accumulators(self, accumulators: Iterable[Dict[str, Dict[str, Any]]]) -> Dict[str, Dict[str, Any]]:
        merged: Dict[str, Dict[str, Any]] = {}
        for finals in accumulators:
            for key, window in finals.items():
                self._fold(merged, key, window)
        return merged

    def extract_output(self, finals: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
        windows = finals.values()
        starts = [window["window_start"] for window in windows]
        figures: Dict[str, Any] = {"windows": len(starts), "first_window_start": min(starts, default=None),
                                   "last_window_start": max(starts, default=None)}
        for field in self._value_fields:
            per_key: Dict[str, list] = {}
            for window in windows:
                value = window[field] if self._accumulating else _total(window[field])
                per_key.setdefault(window[self._key_field], []).append(value)
            totals = {key: _total(values) for key, values in sorted(per_key.items())}
            figures[field] = _total(totals.values())
            figures[f"{field}_per_{self._key_field}"] = totals
        for field, name in self._renamed.items():
            figures[name] = figures.pop(field)
        return figures


def _total(values: Iterable[Any]) -> Any:
    """Counts add up exactly; amounts (in cents, as floats) to the cent, whatever their order."""
    values = list(values)
    if any(isinstance(value, float) for value in values):
        return round(math.fsum(values), 2)
    return sum(values)
