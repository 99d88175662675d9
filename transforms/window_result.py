"""One windowed aggregate as a downstream consumer sees it: key, window bounds and pane timing.

The pane fields let a consumer act on speculative results without being fooled by them: EARLY panes
may still change, the ON_TIME pane is the result as of the watermark, LATE panes correct it, and
`is_last` marks the pane after which the window will not change again.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Tuple

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
    def __init__(self, key_field: str, value_field: str):
        self._key_field = key_field
        self._value_field = value_field

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
            self._value_field: value,
            "timing": _TIMING[pane.timing],
            "is_last": pane.is_last,
        }


class FormatWindowResults(beam.PTransform):
    """(key, value) pairs of a windowed aggregation -> result dicts with window bounds and pane timing.

    The dict is `{"key": "<key>:<window_start_ms>", <key_field>: key, "window_start": ms,
    "window_end": ms, <value_field>: value, "timing": "EARLY"|"ON_TIME"|"LATE", "is_last": bool}`.
    """

    def __init__(self, key_field: str, value_field: str):
        super().__init__()
        self._key_field = key_field
        self._value_field = value_field

    def expand(self, pcoll):
        return pcoll | beam.ParDo(_ToWindowResult(self._key_field, self._value_field))


def final_results(results: Iterable[Dict[str, Any]], value_field: str,
                  accumulation: Accumulation) -> Dict[str, Dict[str, Any]]:
    """Window results, pane by pane -> each window's final result, by key, without its pane fields:
    accumulating, a window's largest pane holds it; discarding, its panes add up to it."""
    finals: Dict[str, Dict[str, Any]] = {}
    for result in results:
        current = finals.get(result["key"])
        if current is None:
            finals[result["key"]] = {k: v for k, v in result.items() if k not in ("timing", "is_last")}
        elif accumulation is Accumulation.ACCUMULATING:
            current[value_field] = max(current[value_field], result[value_field])
        else:
            current[value_field] += result[value_field]
    return finals
