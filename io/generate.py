"""Realistic, seedable order archives for demos, tests and benchmarks.

A day of traffic follows a daily curve (quiet at night, peaks at midday and in the evening) across
weighted regions. Records are written in arrival order, which is not event-time order: most arrive
within a second or two, a few stragglers minutes late, ~1% are redelivered, and a handful are
malformed. The same seed always gives the same archive, byte for byte.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import gc
import hashlib
import json
import math
import os
import random
from typing import Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Set, Tuple

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
class Delivery:
    """What every generator of several streams configures alike: when its events happen (within `hours`
    from `start_ms`), its seed, and how its records arrive (redeliveries, stragglers, malformed ones)."""

    hours: int = 24
    start_ms: int = int(DEFAULT_START.timestamp() * 1000)
    seed: int = 7
    duplicate_rate: float = 0.01
    straggler_rate: float = 0.002
    max_straggler_delay_ms: int = 180_000
    max_delay_ms: Optional[int] = None  # caps every arrival delay, stragglers and redeliveries included
    malformed: int = 20  # per stream


@dataclasses.dataclass(frozen=True)
class GeneratorConfig(Delivery):
    """The orders archive's: its size, its regions, and more malformed records than the other streams'.
    Its redeliveries are not capped by `max_delay_ms` (the orders generator predates the cap; capping
    them now would change every archive a seed has given)."""

    events: int = 200_000
    malformed: int = 25
    regions: Tuple[str, ...] = tuple(REGIONS)


@dataclasses.dataclass(frozen=True)
class GeneratedArchive:
    files: List[str]
    records: int
    duplicates: int
    malformed: int


def daily_intensity(hour_of_day: float) -> float:
    """Relative order rate over a day: a night trough, a midday peak and a larger evening peak."""
    midday = math.exp(-((hour_of_day - 12.5) ** 2) / 6)
    evening = 1.3 * math.exp(-((hour_of_day - 20) ** 2) / 4)
    return 0.15 + midday + evening


def _event_times(rng: random.Random, config: GeneratorConfig) -> List[int]:
    minutes = config.hours * 60
    weights = [daily_intensity((m / 60) % 24) for m in range(minutes)]
    chosen = rng.choices(range(minutes), weights=weights, k=config.events)
    return sorted(config.start_ms + m * 60_000 + rng.randrange(60_000) for m in chosen)


def arrival_delay_ms(rng: random.Random, straggler_rate: float, max_straggler_delay_ms: int,
                     max_delay_ms: Optional[int]) -> int:
    """Most records arrive within a second or two of their event; a straggler up to minutes later."""
    if rng.random() < straggler_rate:
        delay = rng.randrange(10_000, max_straggler_delay_ms)
    else:
        delay = int(rng.expovariate(1 / 800))
    return delay if max_delay_ms is None else min(delay, max_delay_ms)


def deliveries(rng: random.Random, records: Sequence[dict],
               config: Delivery) -> Tuple[List[Tuple[int, int, int, dict]], Set[int]]:
    """Each record's delivery (copy 0) and, for about `duplicate_rate` of them, a redelivery (copy 1) up to
    30 s later, as (arrival_ms, seq, copy, record) in arrival order; and the seqs of the `malformed`
    records to break, which are never redelivered."""
    malformed_at = set(rng.sample(range(len(records)), min(config.malformed, len(records))))
    timed: List[Tuple[int, int, int, dict]] = []
    for seq, record in enumerate(records):
        event_time = record["event_time"]
        arrival = event_time + arrival_delay_ms(rng, config.straggler_rate, config.max_straggler_delay_ms,
                                                config.max_delay_ms)
        timed.append((arrival, seq, 0, record))
        if seq not in malformed_at and rng.random() < config.duplicate_rate:
            again = arrival + rng.randrange(50, 30_000)
            if config.max_delay_ms is not None:
                again = min(again, event_time + config.max_delay_ms)
            timed.append((again, seq, 1, record))
    timed.sort()  # (arrival, seq, copy) is unique, so records are never compared
    return timed, malformed_at


class StreamArrivals(NamedTuple):
    """One stream's records as they arrive."""

    timed: List[Tuple[int, object]]  # (arrival_ms, record) in arrival order
    events: int  # distinct records, malformed ones included
    malformed: int


def stream_arrivals(rng: random.Random, breakage: random.Random, records: Sequence[dict], config: Delivery,
                    as_text: bool, malformed: Callable[[random.Random, dict, bool], object]) -> StreamArrivals:
    """A stream's `deliveries`, each malformed one broken by `malformed(breakage, record, as_text)`."""
    timed, malformed_at = deliveries(rng, records, config)
    arrived = [(arrival, malformed(breakage, record, as_text) if seq in malformed_at else record)
               for arrival, seq, _, record in timed]
    return StreamArrivals(arrived, len(records), len(malformed_at))


@contextlib.contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Records hold no reference cycles; the cycle collector, run as millions of them are made, would
    only scan the ones made before again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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


def broken_ids(rng: random.Random, valid: dict, as_text: bool, id_fields: Tuple[str, ...],
               more_text_breaks: Callable[[dict], List[str]] = lambda valid: []) -> object:
    """A record broken in one of its ids (blank, empty, an invisible character), or as JSON can break
    (cut short, a field missing, a wrong type, not JSON): Avro records must still fit their schema."""
    field = rng.choice([name for name in id_fields if name in valid])
    avro_breaks = [{**valid, field: ""}, {**valid, field: " "}, {**valid, field: valid[field] + "\u200b"}]
    if not as_text:
        return rng.choice(avro_breaks)
    missing = rng.choice(list(valid))
    text_breaks = [json.dumps(b) for b in avro_breaks] + [
        json.dumps(valid)[:-7],
        json.dumps({k: v for k, v in valid.items() if k != missing}),
        json.dumps({**valid, "event_time": str(valid["event_time"])}),
        json.dumps({**valid, field: 12345}),
        "not json at all",
    ] + more_text_breaks(valid)
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
        arrival = event_time + arrival_delay_ms(rng, config.straggler_rate, config.max_straggler_delay_ms,
                                                config.max_delay_ms)
        timed.append((arrival, seq, record))
        if seq not in malformed_at and rng.random() < config.duplicate_rate:
            timed.append((arrival + rng.randrange(50, 30_000), seq, record))
    timed.sort(key=lambda t: (t[0], t[1]))
    for arrival, _, record in timed:
        yield arrival, record


def first_latest_hour(hours: Iterable[int]) -> int:
    """The first hour of arrival written with a subject's latest schema version: the earlier half of
    the hours take its first version and the later half its latest, as an archive spanning a schema
    change would."""
    ordered = sorted(hours)
    return ordered[len(ordered) // 2]


def _stable_key_order(schema: object) -> object:
    """The schema with its keys sorted: fastavro orders some keys of a parsed schema by iterating a set,
    which changes with Python's hash seed, and writes them so into each Avro file's header."""
    if isinstance(schema, dict):
        return {key: _stable_key_order(schema[key]) for key in sorted(schema) if not key.startswith("__")}
    if isinstance(schema, list):
        return [_stable_key_order(item) for item in schema]
    return schema


def write_hourly_files(by_hour: Dict[int, List[object]], output_dir: str, prefix: str, fmt: str,
                       subject: str) -> List[str]:
    """One file per hour of arrival, `<prefix>-YYYYmmdd-HH.<jsonl|avro>`; a record is a dict, or text
    for a malformed JSON line. Avro files take the version `first_latest_hour` gives them; their header
    holds the schema with its keys sorted and a sync marker derived from their name instead of a random
    one, so that they too are the same, byte for byte, for the same records."""
    os.makedirs(output_dir, exist_ok=True)
    registry = SchemaRegistry()
    versions = registry.versions(subject)
    latest_from = first_latest_hour(by_hour) if by_hour else None
    files = []
    for hour, batch in sorted(by_hour.items()):
        stamp = datetime.datetime.fromtimestamp(hour * 3600, tz=datetime.timezone.utc).strftime("%Y%m%d-%H")
        name = f"{prefix}-{stamp}.{fmt}"
        path = os.path.join(output_dir, name)
        if fmt == "jsonl":
            with open(path, "w", encoding="utf-8") as out:
                for record in batch:
                    out.write((record if isinstance(record, str) else json.dumps(record, allow_nan=True)) + "\n")
        else:
            version = versions[0] if hour < latest_from else versions[-1]
            with open(path, "wb") as out:
                fastavro.writer(out, _stable_key_order(registry.get(subject, version)), batch, codec="deflate",
                                sync_marker=hashlib.md5(name.encode()).digest())
        files.append(path)
    return files


def write_stream(arrived: StreamArrivals, output_dir: str, prefix: str, fmt: str,
                 subject: str) -> GeneratedArchive:
    """A stream's records in files per hour of arrival (`write_hourly_files`), with their counts."""
    by_hour: Dict[int, List[object]] = {}
    for arrival, record in arrived.timed:
        by_hour.setdefault(arrival // HOUR_MS, []).append(record)
    files = write_hourly_files(by_hour, output_dir, prefix, fmt, subject)
    return GeneratedArchive(files=files, records=len(arrived.timed), duplicates=len(arrived.timed) - arrived.events,
                            malformed=arrived.malformed)


def write_archive(config: GeneratorConfig, output_dir: str, fmt: str) -> GeneratedArchive:
    """One file per hour of arrival: `orders-YYYYmmdd-HH.<jsonl|avro>` (`write_hourly_files`)."""
    by_hour: Dict[int, List[object]] = {}
    for arrival, record in arrivals(config, as_text=(fmt == "jsonl")):
        by_hour.setdefault(arrival // HOUR_MS, []).append(record)
    files = write_hourly_files(by_hour, output_dir, "orders", fmt, orders.SUBJECT)
    records = sum(len(batch) for batch in by_hour.values())
    return GeneratedArchive(files=files, records=records, duplicates=records - config.events,
                            malformed=config.malformed)
