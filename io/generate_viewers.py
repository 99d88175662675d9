"""Realistic, seedable archives for concurrent viewers: the `heartbeats` players send while a show plays.

Viewers sit down to watch along `kappa.io.generate`'s daily curve, one thing at a time (a sitting goes
to a viewer free at its start, chosen at random, rested at least 10 minutes since the last one); a few
shows draw most of them (popularity falls as 1 / rank over the catalogue). While a show plays, the
player sends a heartbeat about every 30 s (27 to 33 s apart) for a lognormal duration, from a minute
to two and a half hours (plays stop at the archive's end). Among the sittings run the patterns viewing
sessions (gap 90 s) exist for:
- a dropped heartbeat: now and then one is never sent, a ~60 s hole, still one session;
- a pause longer than the gap: the play resumes minutes later, a new session of the same show;
- a switch: the viewer stops one show and starts another seconds later;
- a glance: a show opened and closed, a single heartbeat.

A heartbeat has no id of its own: a redelivery repeats its (viewer_id, show_id, event_time), and the
distinct heartbeats of a viewer and show have distinct event times. The stream is written as
`kappa.io.generate` writes orders: in arrival order (most records within a second or two, a few
stragglers minutes late, never later than `max_delay_ms` when it is set), one file per hour of arrival,
some records redelivered (identical) and a handful malformed. The same seed always gives the same
archive, byte for byte, and both formats carry the same valid records.
"""
from __future__ import annotations

import bisect
import dataclasses
import heapq
import itertools
import math
import random
from typing import Callable, List, Tuple

from kappa.io import generate

SUBJECT = "heartbeat"
STREAM = "heartbeats"  # the files' prefix, concurrent-viewers' input
SHOWS = 300
HEARTBEATS_PER_VIEWER = 200  # the viewers to seat sittings on, one per this many (more join when all are busy)
MINUTE_MS = 60_000
HEARTBEAT_MS = 30_000
JITTER_MS = 3_000  # a heartbeat follows the previous one by HEARTBEAT_MS +- JITTER_MS
DROP_RATE = 0.02  # of heartbeats never sent; never two in a row, so a hole stays below the 90 s gap
PLAY_MEDIAN_MS = 20 * MINUTE_MS
MAX_PLAY_MS = 150 * MINUTE_MS
REST_MS = 10 * MINUTE_MS  # at least, between a viewer's sittings


@dataclasses.dataclass(frozen=True)
class ViewersConfig(generate.Delivery):
    """Plays start within `hours` from `start_ms`, and stop at its end, until there are `heartbeats`
    distinct heartbeats."""

    heartbeats: int = 200_000


class _Viewing:
    """The sittings, each a pattern (a public method) played by one viewer, and their heartbeats as
    (event_time, sitting, show), in the order they were played: a sitting's heartbeats are sent while it
    is the next one `sittings` will hold, as (first, last heartbeat)."""

    def __init__(self, rng: random.Random, config: ViewersConfig):
        self.rng = rng
        self.end_ms = config.start_ms + config.hours * generate.HOUR_MS
        self.show_at = list(itertools.accumulate(1 / rank for rank in range(1, SHOWS + 1)))
        self.heartbeats: List[Tuple[int, int, int]] = []
        self.sittings: List[Tuple[int, int]] = []

    def _below(self, n: int) -> int:
        """As `rng.randrange(n)`, several times faster, which a million heartbeats feel."""
        return int(self.rng.random() * n)

    def _show(self) -> int:
        return bisect.bisect(self.show_at, self.rng.random() * self.show_at[-1], 0, SHOWS - 1)

    def _duration(self, median_ms: int) -> int:
        return min(MAX_PLAY_MS, max(MINUTE_MS, int(self.rng.lognormvariate(math.log(median_ms), 0.9))))

    def _play(self, at: int, show: int, duration_ms: int) -> int:
        """Heartbeats from `at` for `duration_ms`, a few dropped; returns when the last was sent."""
        random_ = self.rng.random
        heartbeats, sitting = self.heartbeats, len(self.sittings)
        stop = min(at + duration_ms, self.end_ms)
        last, forced = at, True  # the first heartbeat is sent, and any after a dropped one
        while at < stop:
            if forced or random_() >= DROP_RATE:
                heartbeats.append((at, sitting, show))
                last, forced = at, False
            else:
                forced = True
            at += HEARTBEAT_MS - JITTER_MS + int(random_() * 2 * JITTER_MS)
        return last

    def watch(self, at: int) -> int:
        return self._play(at, self._show(), self._duration(PLAY_MEDIAN_MS))

    def pause(self, at: int) -> int:
        show = self._show()
        paused = self._play(at, show, self._duration(PLAY_MEDIAN_MS // 2))
        return self._play(paused + 2 * MINUTE_MS + self._below(18 * MINUTE_MS), show,
                          self._duration(PLAY_MEDIAN_MS // 2))

    def switch(self, at: int) -> int:
        show, other = self._show(), self._show()
        while other == show:
            other = self._show()
        stopped = self._play(at, show, self._duration(PLAY_MEDIAN_MS // 2))
        return self._play(stopped + 5_000 + self._below(15_000), other, self._duration(PLAY_MEDIAN_MS))

    def glance(self, at: int) -> int:
        self.heartbeats.append((at, len(self.sittings), self._show()))
        return at


def _seat(rng: random.Random, sittings: List[Tuple[int, int]], viewers: int) -> Tuple[List[int], int]:
    """A viewer for each sitting, chosen at random among those free at its start (a new one when none
    is), so that a viewer watches one thing at a time and rests between sittings; and how many
    viewers there are."""
    free, busy = list(range(viewers)), []  # busy: a heap of (free again at, viewer)
    viewer_of = [0] * len(sittings)
    for sitting in sorted(range(len(sittings)), key=lambda i: sittings[i][0]):
        first, last = sittings[sitting]
        while busy and busy[0][0] <= first:
            free.append(heapq.heappop(busy)[1])
        if not free:
            free.append(viewers)
            viewers += 1
        chosen = int(rng.random() * len(free))
        free[chosen], free[-1] = free[-1], free[chosen]
        viewer_of[sitting] = free.pop()
        heapq.heappush(busy, (last + REST_MS, viewer_of[sitting]))
    return viewer_of, viewers


def _viewing(rng: random.Random, config: ViewersConfig) -> Tuple[List[Tuple[int, int, int]], int]:
    """Sittings, each starting along the daily curve, until there are `config.heartbeats` heartbeats:
    those heartbeats as (event_time, viewer, show) in event-time order, and how many viewers there are."""
    viewing = _Viewing(rng, config)
    patterns: List[Tuple[float, Callable[[int], int]]] = [
        (0.72, viewing.watch), (0.10, viewing.pause), (0.10, viewing.switch), (0.08, viewing.glance),
    ]
    pattern_at = list(itertools.accumulate(weight for weight, _ in patterns))
    minute_at = list(itertools.accumulate(generate.daily_intensity((m / 60) % 24) for m in range(config.hours * 60)))
    while len(viewing.heartbeats) < config.heartbeats:
        minute = bisect.bisect(minute_at, rng.random() * minute_at[-1], 0, len(minute_at) - 1)
        at = config.start_ms + minute * MINUTE_MS + viewing._below(MINUTE_MS)
        play = patterns[bisect.bisect(pattern_at, rng.random() * pattern_at[-1], 0, len(patterns) - 1)][1]
        viewing.sittings.append((at, play(at)))
    del viewing.heartbeats[config.heartbeats:]
    viewer_of, viewers = _seat(rng, viewing.sittings, max(2, config.heartbeats // HEARTBEATS_PER_VIEWER))
    return sorted((at, viewer_of[sitting], show) for at, sitting, show in viewing.heartbeats), viewers


def _malformed(rng: random.Random, valid: dict, as_text: bool) -> object:
    return generate.broken_ids(rng, valid, as_text, ("viewer_id", "show_id"))


@generate.without_cycle_collection()
def viewers_arrivals(config: ViewersConfig, as_text: bool) -> generate.StreamArrivals:
    """The heartbeats in arrival order; a record is a dict, or text for a malformed JSON line."""
    rng = random.Random(config.seed)
    breakage = random.Random(config.seed + 1)  # apart, so both formats carry the same valid records
    heartbeats, viewers = _viewing(rng, config)
    viewer_ids = [f"v-{config.seed}-{n:07d}" for n in range(viewers)]
    show_ids = [f"s-{config.seed}-{n:03d}" for n in range(SHOWS)]
    records = [{"viewer_id": viewer_ids[viewer], "show_id": show_ids[show], "event_time": event_time}
               for event_time, viewer, show in heartbeats]
    return generate.stream_arrivals(rng, breakage, records, config, as_text, _malformed)


def write_viewers_archive(config: ViewersConfig, output_dir: str, fmt: str) -> generate.GeneratedArchive:
    """`<output_dir>/heartbeats-YYYYmmdd-HH.<jsonl|avro>`, one file per hour of arrival
    (`generate.write_hourly_files`)."""
    return generate.write_stream(viewers_arrivals(config, as_text=(fmt == "jsonl")), output_dir, STREAM, fmt,
                                 SUBJECT)
