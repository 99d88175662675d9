"""Realistic, seedable archives for surge pricing: ride `requests` and the `drivers`' locations.

The city is a grid of 16 x 16 map cells (`c-<seed>-<n>`, n = row * 16 + column). Riders ask for rides
mostly downtown, less towards the edges, and in bursts at three hotspots: an airport in a corner, a
stadium and the central station. Drivers work shifts of a few hours, starting along `kappa.io.generate`'s
daily curve (some already on shift when the archive starts). On shift, a driver's app reports a location
every 20 to 40 s: available, drifting to a neighbouring cell now and then; picked up by a rider (sooner
downtown, where the requests are), busy for a 5 to 25 minute ride across a few cells; offline once, at
the shift's end. So pricing's windows see every case: downtown at its peaks and the hotspots' bursts
with demand far above supply (the 3.0 cap), quiet cells with drivers and no requests (the 1.0 floor),
edge cells with requests and no driver, and ratios between.

A request is made before its ride starts (the served ones), or never finds a driver; a rider left
without one asks again a minute later now and then (a new request_id). Each stream is written as
`kappa.io.generate` writes orders: in arrival order (most records within a second or two, a few
stragglers minutes late, never later than `max_delay_ms` when it is set), one file per hour of arrival,
some records redelivered (identical) and a handful malformed. The same seed always gives the same
archive, byte for byte, and both formats carry the same valid records.
"""
from __future__ import annotations

import bisect
import dataclasses
import itertools
import json
import math
import os
import random
from typing import Callable, Dict, List, Sequence, Tuple

from kappa.io import generate

GRID = 16  # the city: GRID x GRID cells
HOTSPOTS = (1 * GRID + 14, 11 * GRID + 4, 8 * GRID + 7)  # an airport, a stadium, the central station
STATUSES = ("available", "busy", "offline")
AVAILABLE, BUSY, OFFLINE = range(3)
REQUEST = -1  # in place of a status: the event is a ride request
STREAMS = {"requests": "ride-request", "drivers": "driver-location"}  # surge-pricing's inputs, their subjects
MINUTE_MS = 60_000
REPORT_MS = 20_000  # a driver's reports are REPORT_MS to 2 * REPORT_MS apart
SHIFT_MEDIAN_MS = 5 * generate.HOUR_MS
MAX_SHIFT_MS = 10 * generate.HOUR_MS  # also how long before the archive's start shifts may start
MOVE_AVAILABLE, MOVE_BUSY = 0.12, 0.35  # the chance that a report finds the driver in a neighbouring cell
EVENTS_PER_RIDER = 15  # over the whole archive, on average: about two requests each


@dataclasses.dataclass(frozen=True)
class SurgeConfig(generate.Delivery):
    """Requests within `hours` from `start_ms`, and drivers' locations reported then, until there are
    `events` distinct events across both streams."""

    events: int = 200_000


@dataclasses.dataclass(frozen=True)
class GeneratedSurgeArchive:
    requests: generate.GeneratedArchive
    drivers: generate.GeneratedArchive


def _neighbours(cell: int) -> Tuple[int, ...]:
    row, column = divmod(cell, GRID)
    return tuple((row + dr) * GRID + column + dc for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                 if (dr or dc) and 0 <= row + dr < GRID and 0 <= column + dc < GRID)


def _density(cell: int, spread: float) -> float:
    """How much of the city's activity is in a cell: most downtown, a little at the edges."""
    row, column = divmod(cell, GRID)
    centre = (GRID - 1) / 2
    return 0.03 + math.exp(-((row - centre) ** 2 + (column - centre) ** 2) / (2 * spread ** 2))


class _City:
    """The cells, and the events played in them (each public method is a pattern), in the order they
    were played: (event_time, driver or rider, cell, status), the status REQUEST for a ride request."""

    def __init__(self, rng: random.Random, config: SurgeConfig):
        self.rng = rng
        self.start_ms = config.start_ms
        self.end_ms = config.start_ms + config.hours * generate.HOUR_MS
        self.riders = max(2, config.events // EVENTS_PER_RIDER)
        self.drivers = 0
        cells = range(GRID * GRID)
        self.demand = [_density(cell, 4.0) for cell in cells]
        self.neighbours = [_neighbours(cell) for cell in cells]
        # an available driver drifts towards the requests: it moves to a neighbour in proportion to its demand
        self.towards_demand = [list(itertools.accumulate(self.demand[n] for n in around))
                               for around in self.neighbours]
        self.demand_at = list(itertools.accumulate(self.demand))
        self.shift_start_at = list(itertools.accumulate(_density(cell, 5.0) for cell in cells))
        # the chance that an available report is the driver's pick-up: sooner where the requests are
        self.pick_up = [0.01 + 0.04 * weight / max(self.demand) for weight in self.demand]
        self.events: List[Tuple[int, int, int, int]] = []

    def _below(self, n: int) -> int:
        """As `rng.randrange(n)`, several times faster, which a million reports feel."""
        return int(self.rng.random() * n)

    def _cell(self, cumulative: Sequence[float]) -> int:
        return bisect.bisect(cumulative, self.rng.random() * cumulative[-1], 0, len(cumulative) - 1)

    def _request(self, at: int, rider: int, cell: int) -> None:
        if self.start_ms <= at < self.end_ms:
            self.events.append((at, rider, cell, REQUEST))

    def shift(self, at: int) -> None:
        """A driver's shift: available, picked up, busy for a ride, available again, offline at its end."""
        random_ = self.rng.random
        events, neighbours, towards_demand, pick_up = self.events, self.neighbours, self.towards_demand, self.pick_up
        driver, self.drivers = self.drivers, self.drivers + 1
        duration = min(MAX_SHIFT_MS, int(self.rng.lognormvariate(math.log(SHIFT_MEDIAN_MS), 0.4)))
        end = min(at + duration, self.end_ms)
        cell, status, ride_end = self._cell(self.shift_start_at), AVAILABLE, 0
        while at < end:
            if status == BUSY and at >= ride_end:
                status = AVAILABLE
            elif status == AVAILABLE and random_() < pick_up[cell]:
                status, ride_end = BUSY, at + 5 * MINUTE_MS + self._below(20 * MINUTE_MS)
                self._request(at - 15_000 - self._below(120_000), self._below(self.riders), cell)
            if status == BUSY and random_() < MOVE_BUSY:
                around = neighbours[cell]
                cell = around[int(random_() * len(around))]
            elif status == AVAILABLE and random_() < MOVE_AVAILABLE:
                towards = towards_demand[cell]
                cell = neighbours[cell][bisect.bisect(towards, random_() * towards[-1], 0, len(towards) - 1)]
            if at >= self.start_ms:
                events.append((at, driver, cell, status))
            at += REPORT_MS + int(random_() * REPORT_MS)
        if self.start_ms <= at < self.end_ms:
            events.append((at, driver, cell, OFFLINE))

    def request(self, at: int) -> None:
        """A request that finds no driver; now and then the rider asks again a minute later."""
        rider, cell = self._below(self.riders), self._cell(self.demand_at)
        self._request(at, rider, cell)
        if self.rng.random() < 0.25:
            self._request(at + 30_000 + self._below(60_000), rider, cell)

    def rush(self, at: int) -> None:
        """A burst of requests at a hotspot and around it: a flight landed, a match or a train ended."""
        hotspot = HOTSPOTS[self._below(len(HOTSPOTS))]
        around = self.neighbours[hotspot]
        span = 5 * MINUTE_MS + self._below(15 * MINUTE_MS)
        for _ in range(15 + self._below(30)):
            cell = hotspot if self.rng.random() < 0.7 else around[self._below(len(around))]
            self._request(at + self._below(span), self._below(self.riders), cell)


def _city(rng: random.Random, config: SurgeConfig) -> _City:
    """Shifts (starting up to `MAX_SHIFT_MS` before the archive's start), lone requests and rushes, each
    starting along the daily curve, until there are `config.events` events."""
    city = _City(rng, config)
    lead = MAX_SHIFT_MS // MINUTE_MS
    minutes = range(-lead, config.hours * 60)
    shift_at = list(itertools.accumulate(generate.daily_intensity((m / 60) % 24) for m in minutes))
    open_at = list(itertools.accumulate(generate.daily_intensity((m / 60) % 24) if m >= 0 else 0.0 for m in minutes))
    # rates per unit of the daily curve: the same mix of shifts, requests and rushes whatever the archive's length
    patterns: List[Tuple[float, Callable[[int], None], List[float]]] = [
        (0.01, city.shift, shift_at), (0.3, city.request, open_at), (0.004, city.rush, open_at),
    ]
    pattern_at = list(itertools.accumulate(rate * minute_at[-1] for rate, _, minute_at in patterns))
    while len(city.events) < config.events:
        _, play, minute_at = patterns[bisect.bisect(pattern_at, rng.random() * pattern_at[-1], 0, len(patterns) - 1)]
        minute = bisect.bisect(minute_at, rng.random() * minute_at[-1], 0, len(minute_at) - 1)
        play(config.start_ms + (minute - lead) * MINUTE_MS + city._below(MINUTE_MS))
    del city.events[config.events:]
    return city


def _status_breaks(valid: dict) -> List[str]:
    if "status" not in valid:
        return []
    return [json.dumps({**valid, "status": valid["status"].upper()}), json.dumps({**valid, "status": "on-break"})]


def _malformed(rng: random.Random, valid: dict, as_text: bool) -> object:
    return generate.broken_ids(rng, valid, as_text, ("request_id", "rider_id", "driver_id", "cell"), _status_breaks)


@generate.without_cycle_collection()
def surge_arrivals(config: SurgeConfig, as_text: bool) -> Dict[str, generate.StreamArrivals]:
    """Per stream, "requests" and "drivers", its records in arrival order; a record is a dict, or text
    for a malformed JSON line."""
    rng = random.Random(config.seed)
    breakage = random.Random(config.seed + 1)  # apart, so both formats carry the same valid records
    city = _city(rng, config)
    events = sorted(city.events)
    cells = [f"c-{config.seed}-{n:03d}" for n in range(GRID * GRID)]
    riders = [f"u-{config.seed}-{n:07d}" for n in range(city.riders)]
    drivers = [f"d-{config.seed}-{n:06d}" for n in range(city.drivers)]
    requests = [{"request_id": f"r-{config.seed}-{seq:09d}", "rider_id": riders[rider], "cell": cells[cell],
                 "event_time": event_time}
                for seq, (event_time, rider, cell, _) in enumerate(e for e in events if e[3] == REQUEST)]
    locations = [{"driver_id": drivers[driver], "cell": cells[cell], "status": STATUSES[status],
                  "event_time": event_time}
                 for event_time, driver, cell, status in events if status != REQUEST]
    return {stream: generate.stream_arrivals(rng, breakage, records, config, as_text, _malformed)
            for stream, records in (("requests", requests), ("drivers", locations))}


def write_surge_archive(config: SurgeConfig, output_dir: str, fmt: str) -> GeneratedSurgeArchive:
    """`<output_dir>/requests/requests-YYYYmmdd-HH.<jsonl|avro>` and `<output_dir>/drivers/drivers-...`,
    one file per hour of arrival (`generate.write_hourly_files`)."""
    arrivals = surge_arrivals(config, as_text=(fmt == "jsonl"))
    return GeneratedSurgeArchive(**{
        stream: generate.write_stream(arrivals[stream], os.path.join(output_dir, stream), stream, fmt, subject)
        for stream, subject in STREAMS.items()})
