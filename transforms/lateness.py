"""What "too late" means for one input, decided where the watermark is made, before any grouping.

Beam drops late data inside a GroupByKey without a trace, and a stateful rule would silently ignore a
record its state has already moved past. So the source that owns the watermark (a replay, a Kafka
partition) asks each input's rule, for every valid record, whether the pipeline can still take it
into account; one it cannot goes to the pipeline's `late` output instead, with the watermark it met.
Two rules cover the pipelines:
- `WindowExpiry`: a windowed aggregation can use a record while one of its windows is within its
  allowed lateness: not once the watermark is past every window's end plus the lateness (Beam's own
  garbage-collection point for the window);
- `BehindWatermark`: a join or a stateful rule can use a record whose event time is at most the
  allowed lateness behind the watermark.
A watermark is the source's own (a Kafka partition's, at least the runner's), so whatever a grouping
downstream would drop, the source has diverted first.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Iterable, List, NamedTuple, Optional, Tuple

from apache_beam.transforms import window
from apache_beam.utils.timestamp import Timestamp

from kappa.io.dead_letter import json_default
from kappa.transforms.windowing import WindowSpec

Window = Tuple[int, int]  # [start, end) in ms


class LateRecord(NamedTuple):
    """A valid record the pipeline could no longer take into account: the `late` output's record."""

    stream: str
    record: Any  # the event, as its contract's record type
    event_time: int
    watermark: int

    def to_dict(self) -> dict:
        record = self.record._asdict() if hasattr(self.record, "_asdict") else self.record
        return {"stream": self.stream, "record": record, "event_time": self.event_time,
                "watermark": self.watermark, "lateness_ms": self.watermark - self.event_time}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=json_default)


def windows_of(window_fn: window.WindowFn) -> Callable[[int], List[Window]]:
    """event time (ms) -> the [start, end) windows the window function assigns it."""
    if isinstance(window_fn, window.FixedWindows):
        size, offset = window_fn.size.micros // 1000, window_fn.offset.micros // 1000

        def fixed(event_ms: int) -> List[Window]:
            start = event_ms - (event_ms - offset) % size
            return [(start, start + size)]
        return fixed

    def assigned(event_ms: int) -> List[Window]:
        context = window.WindowFn.AssignContext(Timestamp(micros=event_ms * 1000))
        return [(w.start.micros // 1000, w.end.micros // 1000) for w in window_fn.assign(context)]
    return assigned


class WindowExpiry:
    """Too late once every window of the record is past its end plus the allowed lateness."""

    def __init__(self, spec: WindowSpec):
        self._windows = windows_of(spec.window_fn())
        self._lateness_ms = spec.allowed_lateness_ms

    def too_late(self, event_ms: int, watermark_ms: Optional[int]) -> bool:
        lateness = self._lateness_ms
        return watermark_ms is not None and all(watermark_ms > end + lateness for _, end in self._windows(event_ms))

    def change_points(self, event_times: Iterable[int]) -> Optional[List[int]]:
        """Watermarks at which a window of these events fires on time (its end) or expires (end +
        lateness + 1 ms): a replay needs to send no other."""
        points = set()
        for event_ms in event_times:
            for _, end_ms in self._windows(event_ms):
                points.update((end_ms, end_ms + self._lateness_ms + 1))
        return sorted(points)


@dataclasses.dataclass(frozen=True)
class BehindWatermark:
    """Too late when the event time is more than the allowed lateness behind the watermark."""

    lateness_ms: int

    def too_late(self, event_ms: int, watermark_ms: Optional[int]) -> bool:
        return watermark_ms is not None and event_ms < watermark_ms - self.lateness_ms

    def change_points(self, event_times: Iterable[int]) -> Optional[List[int]]:
        """None: a stateful rule may act at any watermark, so a replay sends every advance."""
        return None
