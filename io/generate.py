"""Realistic, seedable order archives for demos, tests and benchmarks.

A day of traffic follows a daily curve (quiet at night, peaks at midday and in the evening) across
weighted regions. Records are written in arrival order, which is not event-time order: most arrive
within a second or two, a few stragglers minutes late, ~1% are redelivered, and a handful are
malformed. The same seed always gives the same archive, byte for byte.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import random
from typing import Dict, Iterator, List, Optional, Tuple

import fastavro

from kappa.io import orders
from kappa.io.schema_registry import SchemaRegistry

REGIONS: Dict[str, float] = {
    "eu-west": 0.22, "eu-north": 0.08, "us-east": 0.24, "us-west": 0.16,
    "ap-south": 0.12, "ap-east": 0.10, "sa-east": 0.05, "af-south": 0.03,
}
DEFAULT_START = datetime.datetime(2026, 11, 27, tzinfo=datetime.timezone.utc)
HOUR_MS = 3_600_000


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    events: int = 200_000
    hours: int = 24
    start_ms: int = int(DEFAULT_START.timestamp() * 1000)
    seed: int = 7
    duplicate_rate: float = 0.01
    straggler_rate: float = 0.002
    max_straggler_delay_ms: int = 180_000
    max_delay_ms: Optional[int] = None  # caps every arrival delay, stragglers included
    malformed: int = 25
    regions: Tuple[str, ...] = tuple(REGIONS)


@dataclasses.dataclass(frozen=True)
class GeneratedArchive:
    files: List[str]
    records: int
    duplicates: int
    malformed: int


def _daily_intensity(hour_of_day: float) -> float:
    """Relative order rate over a day: a night trough, a midday peak and a larger evening peak."""
    midday = math.exp(-((hour_of_day - 12.5) ** 2) / 6)
    evening = 1.3 * math.exp(-((hour_of_day - 20) ** 2) / 4)
    return 0.15 + midday + evening


def _event_times(rng: random.Random, config: GeneratorConfig) -> List[int]:
    minutes = config.hours * 60
    weights = [_daily_intensity((m / 60) % 24) for m in range(minutes)]
    chosen = rng.choices(range(minutes), weights=weights, k=config.events)
    return sorted(config.start_ms + m * 60_000 + rng.randrange(60_000) for m in chosen)


def _arrival_delay_ms(rng: random.Random, config: GeneratorConfig) -> int:
    if rng.random() < config.straggler_rate:
        delay = rng.randrange(10_000, config.max_straggler_delay_ms)
    else:
        delay = int(rng.expovariate(1 / 800))
    return delay if config.max_delay_ms is None else min(delay, config.max_delay_ms)


def _malformed(rng: random.Random, valid: dict, as_text: bool) -> object:
    """A broken record; JSON can break in more ways than an Avro record, which must still fit its schema."""
    avro_breaks = [
        {**valid, "region": ""},
        {**valid, "order_id": " "},
        {**valid, "amount": float("nan")},
    ]
    if not as_text:
        return rng.choice(avro_breaks)
    text_breaks = [json.dumps(b, allow_nan=True) for b in avro_breaks] + [
        json.dumps(valid)[:-7],
        json.dumps({k: v for k, v in valid.items() if k != "event_time"}),
        json.dumps({**valid, "amount": str(valid["amount"])}),
        json.dumps({**valid, "event_time": str(valid["event_time"])}),
        "not json at all",
    ]
    return rng.choice(text_breaks)


def arrivals(config: GeneratorConfig, as_text: bool) -> Iterator[Tuple[int, object]]:
    """(arrival_ms, record) in arrival order; a record is a dict, or text for a malformed JSON line."""
    rng = random.Random(config.seed)
    breakage = random.Random(config.seed + 1)  # apart, so both formats carry the same valid orders
    weights = [REGIONS.get(r, 1 / len(config.regions)) for r in config.regions]
    timed: List[Tuple[int, int, object]] = []
    malformed_at = set(rng.sample(range(config.events), min(config.malformed, config.events)))
    for seq, event_time in enumerate(_event_times(rng, config)):
        record = {
            "order_id": f"o-{config.seed}-{seq:09d}",
            "region": rng.choices(config.regions, weights=weights)[0],
            "amount": round(rng.lognormvariate(3.4, 0.8), 2),
            "event_time": event_time,
        }
        if seq in malformed_at:
            record = _malformed(breakage, record, as_text)
        arrival = event_time + _arrival_delay_ms(rng, config)
        timed.append((arrival, seq, record))
        if seq not in malformed_at and rng.random() < config.duplicate_rate:
            timed.append((arrival + rng.randrange(50, 30_000), seq, record))
    timed.sort(key=lambda t: (t[0], t[1]))
    for arrival, _, record in timed:
        yield arrival, record


def write_archive(config: GeneratorConfig, output_dir: str, fmt: str) -> GeneratedArchive:
    """One file per hour of arrival: `orders-YYYYmmdd-HH.<jsonl|avro>`.

    Avro files from the first half of the day are written with schema version 1 and the rest with the
    latest version, as an archive spanning a schema change would be.
    """
    os.makedirs(output_dir, exist_ok=True)
    by_hour: Dict[int, List[object]] = {}
    for arrival, record in arrivals(config, as_text=(fmt == "jsonl")):
        by_hour.setdefault(arrival // HOUR_MS, []).append(record)
    registry = SchemaRegistry()
    versions = registry.versions(orders.SUBJECT)
    files, records = [], 0
    for index, (hour, batch) in enumerate(sorted(by_hour.items())):
        stamp = datetime.datetime.fromtimestamp(hour * 3600, tz=datetime.timezone.utc).strftime("%Y%m%d-%H")
        path = os.path.join(output_dir, f"orders-{stamp}.{fmt}")
        if fmt == "jsonl":
            with open(path, "w", encoding="utf-8") as out:
                for record in batch:
                    out.write((record if isinstance(record, str) else json.dumps(record, allow_nan=True)) + "\n")
        else:
            version = versions[0] if index < len(by_hour) // 2 else versions[-1]
            with open(path, "wb") as out:
                fastavro.writer(out, registry.get(orders.SUBJECT, version), batch, codec="deflate")
        files.append(path)
        records += len(batch)
    duplicates = records - config.events
    return GeneratedArchive(files=files, records=records, duplicates=duplicates, malformed=config.malformed)
