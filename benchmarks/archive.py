"""The benchmark's input: one seeded Avro archive, generated once per size and reused by every run.

Issue 4's shape: order events ~10 ms apart in event time (1,000,000 over 3 hours), written in arrival
order with at most 5 s of delay (so up to 5 s out of order), 8 regions, ~1% redelivered, none
malformed: every contender must count the same orders.
"""
import dataclasses
import glob
import json
import os

import fastavro

from kappa.io import generate
from kappa.io.contracts import epoch_ms

EVENTS_PER_HOUR = 360_000  # one event every 10 ms on average


@dataclasses.dataclass(frozen=True)
class BenchArchive:
    directory: str
    events: int  # distinct orders
    records: int  # what a contender reads: the orders and their redeliveries

    @property
    def pattern(self) -> str:
        return os.path.join(self.directory, "*.avro")

    @property
    def files(self) -> list:
        return sorted(glob.glob(self.pattern))


def config(events: int) -> generate.GeneratorConfig:
    return generate.GeneratorConfig(
        events=events, hours=max(1, round(events / EVENTS_PER_HOUR)), seed=4, duplicate_rate=0.01,
        straggler_rate=0.0, max_delay_ms=5_000, malformed=0)


def ensure(root: str, events: int) -> BenchArchive:
    """The archive for `events` under `root`, generated unless a complete one is there."""
    directory = os.path.join(root, f"orders-{events}")
    done = os.path.join(directory, "complete.json")
    if not os.path.exists(done):
        for stale in glob.glob(os.path.join(directory, "*")):
            os.remove(stale)
        written = generate.write_archive(config(events), directory, "avro")
        with open(done, "w") as out:
            json.dump({"records": written.records}, out)
    with open(done) as meta:
        return BenchArchive(directory, events, json.load(meta)["records"])


def jsonl_copy(archive: BenchArchive) -> str:
    """The archive as one JSON-lines file (region, order_id, event_time in ms), for PyFlink's text source."""
    path = os.path.join(archive.directory, "jsonl", "orders.jsonl")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as out:
            for file in archive.files:
                with open(file, "rb") as avro:
                    for order in fastavro.reader(avro):
                        out.write(json.dumps({"region": order["region"], "order_id": order["order_id"],
                                              "event_time": epoch_ms(order["event_time"])}) + "\n")
        os.rename(path + ".tmp", path)
    return path
