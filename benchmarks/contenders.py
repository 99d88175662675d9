"""The contenders, each the same job: distinct order ids per region per 1-minute event-time window.

Run one in a process of its own, so its peak memory is its own:

    python -m kappa.benchmarks.contenders NAME --archive DIR --workdir DIR --result FILE

The result file holds the wall seconds of the job alone (after imports) and the counts, keyed
`region:window_start_ms`. The driver measures memory from outside (kappa.benchmarks.memory).
"""
import argparse
import json
import os
import sys
import time
from typing import Callable, Dict

from kappa.benchmarks.archive import BenchArchive
from kappa.io.contracts import EPOCH, MILLISECOND, epoch_ms

Counts = Dict[str, int]
WINDOW_MS = 60_000


def limit(archive: BenchArchive, workdir: str) -> Counts:
    """The per-record Python limit on one core: fastavro's reader and a dict of sets."""
    import fastavro

    seen: Dict[tuple, set] = {}
    for path in archive.files:
        with open(path, "rb") as f:
            for order in fastavro.reader(f):
                event_ms = (order["event_time"] - EPOCH) // MILLISECOND  # epoch_ms inlined
                key = (order["region"], event_ms - event_ms % WINDOW_MS)
                ids = seen.get(key)
                if ids is None:
                    ids = seen[key] = set()
                ids.add(order["order_id"])
    return {f"{region}:{start}": len(ids) for (region, start), ids in seen.items()}


def stock_beam(archive: BenchArchive, workdir: str) -> Counts:
    """The textbook pipeline on Beam's FnApiRunner: ReadFromAvro, timestamps, FixedWindows(60),
    Distinct, Count.PerElement."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.transforms import window

    class KeyByWindow(beam.DoFn):
        def process(self, region_count, win=beam.DoFn.WindowParam):
            region, count = region_count
            yield json.dumps([f"{region}:{win.start.micros // 1000}", count])

    out = os.path.join(workdir, "stock-beam")
    with beam.Pipeline(runner=FnApiRunner()) as p:
        (p
         | beam.io.ReadFromAvro(archive.pattern)
         | beam.Map(lambda o: window.TimestampedValue(
             (o["region"], o["order_id"]), epoch_ms(o["event_time"]) / 1000))
         | beam.WindowInto(window.FixedWindows(60))
         | beam.Distinct()
         | beam.Map(lambda region_order: region_order[0])
         | beam.combiners.Count.PerElement()
         | beam.ParDo(KeyByWindow())
         | beam.io.WriteToText(out, num_shards=1, shard_name_template=""))
    with open(out) as lines:
        return dict(json.loads(line) for line in lines)


def _kappa(archive: BenchArchive, workdir: str, runner: str, *flags: str, mode: str = "batch") -> Counts:
    """A window's count is its largest pane's: a batch run writes one pane per window, a replay
    accumulates early, on-time and late panes."""
    from kappa.io import writers
    from kappa.runners import cli

    out = os.path.join(workdir, f"kappa-{mode}-{runner}")
    code = cli.main(["run", "orders-per-minute", "--input", archive.pattern, "--output", out,
                     "--mode", mode, "--runner", runner, *flags])
    if code != 0:
        raise RuntimeError(f"kappa run --mode {mode} --runner {runner} exited {code}")
    counts: Counts = {}
    for result in writers.read_json_lines(out, "results"):
        if mode == "batch" and result["key"] in counts:
            raise RuntimeError(f"two results for {result['key']} in a batch run")
        counts[result["key"]] = max(counts.get(result["key"], 0), result["count"])
    return counts


def kappa_backfill(archive: BenchArchive, workdir: str) -> Counts:
    """`kappa run orders-per-minute --mode batch --runner direct`: file splits pre-aggregated on one
    worker process per core."""
    return _kappa(archive, workdir, "direct")


def kappa_per_element(archive: BenchArchive, workdir: str) -> Counts:
    """The same with `--per-element`: every event through Beam's windowing, as streaming runs it."""
    return _kappa(archive, workdir, "direct", "--per-element")


def kappa_flink_batch(archive: BenchArchive, workdir: str) -> Counts:
    """`kappa run orders-per-minute --mode batch --runner flink`: the embedded Flink, parallelism 2."""
    return _kappa(archive, workdir, "flink")


def kappa_replay(archive: BenchArchive, workdir: str) -> Counts:
    """`kappa run orders-per-minute --mode replay`: the archive played as a stream, with early panes
    every 10 s of (replayed) processing time and 5 minutes of allowed lateness, which keeps every
    straggler of the archive, so the final counts are the batch's."""
    return _kappa(archive, workdir, "direct", "--allowed-lateness", "5m", "--early-firing", "10s", mode="replay")


CONTENDERS: Dict[str, Callable[[BenchArchive, str], Counts]] = {
    "limit": limit,
    "stock-beam": stock_beam,
    "kappa-backfill": kappa_backfill,
    "kappa-per-element": kappa_per_element,
    "kappa-flink-batch": kappa_flink_batch,
    "kappa-replay": kappa_replay,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="kappa.benchmarks.contenders")
    parser.add_argument("name", choices=sorted(CONTENDERS))
    parser.add_argument("--archive", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    archive = BenchArchive(args.archive, args.events, args.records)
    os.makedirs(args.workdir, exist_ok=True)
    started = time.perf_counter()
    counts = CONTENDERS[args.name](archive, args.workdir)
    wall_s = time.perf_counter() - started
    with open(args.result, "w") as out:
        json.dump({"wall_s": wall_s, "counts": counts}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
