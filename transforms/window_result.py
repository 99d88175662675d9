"""One windowed aggregate as a downstream consumer sees it: key, window bounds and pane timing.

The pane fields let a consumer act on speculative results without being fooled by them: EARLY panes
may still change, the ON_TIME pane is the result as of the watermark, LATE panes correct it, and
`is_last` marks the pane after which the window will not change again.
"""
from __future__ import annotations

import math

from typing import Any, Callable, Dict, Iterable, Tuple

import apache_beam as beam
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


class _ToWindowResult(beam.DoFn):
    def __init__(self, key_field: str, fields: Callable[[Any], Dict[str, Any]], bounded: bool):
        self._key_field = key_field
        self._fields = fields
        # A backfill's one pane per window is its final, on-time result; Flink's batch runner leaves
        # its timing UNKNOWN.
        self._timing = {**_TIMING, PaneInfoTiming.UNKNOWN: "ON_TIME"} if bounded else _TIMING

    def process(
        self, keyed: Tuple[str, Any], win=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam
    ) -> Iterable[Dict[str, Any]]:
        key, value = keyed
        start_ms = win.start.micros // 1000
        yield {
            "key": window_key(key, start_ms),
            self._key_field: key,
            "window_start": start_ms,
            "window_end": win.end.micros // 1000,
            **self._fields(value),
            "timing": self._timing[pane.timing],
            "is_last": pane.is_last,
        }


class FormatWindowResults(beam.PTransform):
    """(key, value) pairs of a windowed aggregation -> result dicts with window bounds and pane timing.

    The dict is `{"key": "<key>:<window_start_ms>", <key_field>: key, "window_start": ms,
    "window_end": ms, **fields(value), "timing": "EARLY"|"ON_TIME"|"LATE", "is_last": bool}`; `bounded`:
    the input is a backfill's, whose one pane per window is on time whatever the runner says.
    """

    def __init__(self, key_field: str, fields: Callable[[Any], Dict[str, Any]], bounded: bool = False):
        super().__init__()
        self._key_field = key_field
        self._fields = fields
        self._bounded = bounded

    def expand(self, pcoll):
        return pcoll | beam.ParDo(_ToWindowResult(self._key_field, self._fields, self._bounded))


def final_results(results: Iterable[Dict[str, Any]], progress_field: str, value_fields: Tuple[str, ...],
                  accumulation: Accumulation) -> Dict[str, Dict[str, Any]]:
    """Window results, pane by pane -> each window's final result, by key, without its pane fields.
    Accumulating, the final pane is the one furthest on by `progress_field` (a count of distinct
    records, which only grows); discarding, the panes' `value_fields` add up to it."""
    finals: Dict[str, Dict[str, Any]] = {}
    for result in results:
        current = finals.get(result["key"])
        if current is None:
            finals[result["key"]] = {k: v for k, v in result.items() if k not in ("timing", "is_last")}
        elif accumulation is Accumulation.ACCUMULATING:
            if result[progress_field] > current[progress_field]:
                current.update((field, result[field]) for field in value_fields)
        else:
            for field in value_fields:
                current[field] += result[field]
    return finals


def window_figures(results: Iterable[Dict[str, Any]], key_field: str, value_fields: Tuple[str, ...],
                   accumulation: Accumulation) -> Dict[str, Any]:
    """A windowed pipeline's summary figures: how many windows, the first and last window start, and
    per value field its total and its total per key (the first field is the progress field)."""
    finals = final_results(results, value_fields[0], value_fields, accumulation).values()
    starts = [final["window_start"] for final in finals]
    figures: Dict[str, Any] = {"windows": len(starts), "first_window_start": min(starts, default=None),
                               "last_window_start": max(starts, default=None)}
    for field in value_fields:
        per_key: Dict[str, list] = {}
        for final in finals:
            per_key.setdefault(final[key_field], []).append(final[field])
        totals = {key: _total(values) for key, values in sorted(per_key.items())}
        figures[field] = _total(totals.values())
        figures[f"{field}_per_{key_field}"] = totals
    return figures


def _total(values: Iterable[Any]) -> Any:
    """Counts add up exactly; amounts (in cents, as floats) to the cent, whatever their order."""
    values = list(values)
    if any(isinstance(value, float) for value in values):
        return round(math.fsum(values), 2)
    return sum(values)
