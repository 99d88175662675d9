"""`make bench`: every contender on the same seeded archive, in one run, checked and compared.

    python -m kappa.benchmarks.run [--events 1000000] [--repeat 3] [--only limit,kappa-backfill]
    python -m kappa.benchmarks.run --events 1000000,4000000,10000000 --repeat 1 --only kappa-backfill

The streaming contender (`kappa-flink-stream`) runs once per size, through `make run-flink`'s demo:
the archive as a backlog in Kafka, read by the job on a Flink session cluster (records/s until the
lag is 0, and its final counts checked like the others'); then an archive of `--stream-rate` x
`--stream-seconds` records produced at that steady rate (the lag while producing, and the latency
from the record that closed a window to that window's on-time result). Its peer (`kafka-streams`,
kappa.benchmarks.kafka_streams) is the seed's Kafka Streams topology on the same backlog: records/s and
exact windows beside kappa's. Its counts are compared, not checked: `count()` counts records and
drops late ones, which is what the comparison shows.

Each contender runs `--repeat` times, each time in a fresh process. A contender whose counts differ
from the limit's fails the run (exit 1). The table gives the median wall time of the job itself,
records/s over it, the ratio to the limit's records/s measured in this same run, and the largest
peak RSS seen.
"""
import argparse
import json
import os
import statistics
import sys
from typing import Dict, List, Optional, Tuple

from kappa.benchmarks import archive as bench_archive
from kappa.benchmarks import memory

BASELINE = "limit"
PYFLINK = "pyflink"
PYFLINK_JOB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyflink_job.py")
STREAM = "kappa-flink-stream"
KSTREAMS = "kafka-streams"
BACKFILL, REPLAY = "kappa-backfill", "kappa-replay"
ORDER = [BASELINE, "stock-beam", PYFLINK, "kappa-per-element", BACKFILL, "kappa-flink-batch", REPLAY, STREAM, KSTREAMS]


def run_once(name: str, archive: bench_archive.BenchArchive, args: argparse.Namespace, attempt: int) -> dict:
    result_path = os.path.join(args.workdir, f"{name}-{attempt}.json")
    if name == PYFLINK:
        command = [args.pyflink_python, PYFLINK_JOB, "--input", bench_archive.jsonl_copy(archive),
                   "--result", result_path]
    else:
        command = [sys.executable, "-m", "kappa.benchmarks.contenders", name, "--archive", archive.directory,
                   "--events", str(archive.events), "--records", str(archive.records),
                   "--workdir", os.path.join(args.workdir, name), "--result", result_path]
    done, peak_mb = memory.run_measured(command)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    with open(result_path) as result:
        return {**json.load(result), "peak_mb": peak_mb}


def _run_with_result(what: str, command: List[str], result_path: str) -> dict:
    """A streaming run in a process of its own: the figures it wrote, its peak memory, its exit."""
    if os.path.exists(result_path):
        os.remove(result_path)  # an earlier run's figures are not this one's
    done, peak_mb = memory.run_measured(command + ["--result", result_path])
    if not os.path.exists(result_path):
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    with open(result_path) as result:
        return {**json.load(result), "peak_mb": peak_mb, "exit": done.returncode}


def run_stream(archive: bench_archive.BenchArchive, args: argparse.Namespace, backlog: bool,
               rate: Optional[int] = None) -> dict:
    phase = "backlog" if backlog else "steady"
    command = [sys.executable, "-m", "kappa.runners.demo", "--archive", archive.pattern,
               "--workdir", os.path.join(args.workdir, STREAM)]
    command += ["--backlog"] if backlog else ["--rate", str(rate)]
    return _run_with_result(f"{STREAM} {phase}", command, os.path.join(args.workdir, f"{STREAM}-{phase}.json"))


def run_kstreams(archive: bench_archive.BenchArchive, args: argparse.Namespace) -> dict:
    command = [sys.executable, "-m", "kappa.benchmarks.kafka_streams", "--archive", archive.pattern,
               "--workdir", os.path.join(args.workdir, KSTREAMS)]
    return _run_with_result(KSTREAMS, command, os.path.join(args.workdir, f"{KSTREAMS}-backlog.json"))


def backlogs_side_by_side(records: int, kappa: Optional[dict], peer: dict, reference: Dict[str, int]) -> str:
    """Both streaming jobs on the same Kafka backlog. Exact: kappa's counts against the distinct
    orders of each window (its job), the peer's against the records of each window (count()'s)."""
    lines = [f"the same backlog of {records:,} records in Kafka (4 partitions), read to lag 0:",
             f"  {'contender':<20} {'records/s':>10} {'from 1st commit':>16} {'windows exact':>15} "
             f"{'dropped late':>13} {'peak MB':>8}"]
    rows = []
    if kappa is not None:
        exact = sum(kappa["counts"].get(window) == n for window, n in reference.items())
        rows.append((STREAM, kappa, exact, "-"))
    rows.append((KSTREAMS, peer, peer["windows_exact"], f"{peer['dropped_late']:,}"))
    for name, figures, exact, dropped in rows:
        lines.append(f"  {name:<20} {figures['throughput_per_s']:>10,.0f} {figures['sustained_per_s']:>16,.0f} "
                     f"{f'{exact:,}/{len(reference):,}':>15} {dropped:>13} {figures['peak_mb']:>8,.0f}")
    lines.append(f"  {KSTREAMS}: {peer['windows_missing']:,} windows without any result, "
                 f"{peer['windows_equal_to_kappa']:,} equal to kappa's distinct counts; dropped late from its "
                 f"dropped-records-total ({peer['dropped_late_by_difference']:,} by difference), "
                 f"{peer['malformed']:,} malformed")
    return "\n".join(lines)


def stream_report(backlog: dict, steady: dict, seconds: int) -> str:
    lines = [f"{STREAM} (Kafka -> Flink session cluster, parallelism 2 -> Kafka):",
             f"  backlog: {backlog['records']:,} records at {backlog['throughput_per_s']:,.0f} records/s from the job's "
             f"start to lag 0, {backlog.get('sustained_per_s', 0):,.0f} records/s from its first commit "
             f"({backlog.get('first_commit_s', 0):.1f} s in); "
             f"{backlog['windows_closed']:,} of {backlog['windows_expected']:,} windows closed; "
             f"peak {backlog['peak_mb']:,.0f} MB (broker and Flink included)"]
    lag = ", ".join(f"{t:.0f}s {n:,}" for t, n in steady["lag"])
    lines.append(f"  steady: {steady['records']:,} records produced at {steady.get('produced_per_s', 0):,.0f}/s "
                 f"(asked {steady['rate']:,.0f}/s for {seconds} s); consumer lag {lag}")
    state = ", ".join(f"{t:.0f}s {n / 1e6:,.1f} MB" for t, n in steady["checkpointed_bytes"] if n is not None)
    lines.append(f"  steady: state of the latest checkpoint (every 10 s) {state}")
    for key, what in (("latency_ms", "all"), ("latency_after_warm_up_ms", "after warm-up")):
        latency = steady.get(key)
        if latency:
            lines.append(f"  latency, closing record produced -> on-time result, {what}, {latency['windows']:,} "
                         f"windows: p50 {latency['p50']:,.0f} ms, p99 {latency['p99']:,.0f} ms, max {latency['max']:,} ms")
    lines.append(f"  steady run's final counts equal the produced records': {steady['counts_match']}")
    return "\n".join(lines)


def table(rows: List[dict]) -> str:
    lines = [f"{'contender':<20} {'wall s':>8} {'records/s':>11} {'x limit':>8} {'peak MB':>8}"]
    for row in rows:
        lines.append(f"{row['contender']:<20} {row['wall_s']:>8.2f} {row['records_per_s']:>11,.0f} "
                     f"{row['ratio']:>8.3f} {row['peak_mb']:>8,.0f}")
    return "\n".join(lines)


def replay_vs_backfill(rows: List[dict]) -> str:
    """The price of replaying an archive as a stream rather than backfilling it, in this same run."""
    by_name = {row["contender"]: row for row in rows}
    ratio = by_name[REPLAY]["records_per_s"] / by_name[BACKFILL]["records_per_s"]
    return f"{REPLAY} runs at {ratio:.3f}x the records/s of {BACKFILL}"


def _sizes(text: str) -> List[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of counts: {text!r}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="kappa.benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=_sizes, default=[1_000_000],
                        help="orders in the archive; several, comma-separated, show how cost grows")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="comma-separated contenders (the limit always runs)")
    parser.add_argument("--workdir", default="build/bench")
    parser.add_argument("--pyflink-python", default="build/bench/pyflink-venv/bin/python",
                        help="the interpreter of the PyFlink environment (make bench installs it)")
    parser.add_argument("--stream-seconds", type=int, default=120, help="how long the steady streaming run produces")
    parser.add_argument("--stream-rate", type=int, default=20_000, help="records/s of the steady streaming run")
    args = parser.parse_args(argv)
    names = ORDER
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - set(ORDER)
        if unknown:
            print(f"kappa.benchmarks.run: unknown contender(s) {sorted(unknown)}; known: {ORDER}", file=sys.stderr)
            return 2
        names = [n for n in names if n == BASELINE or n in wanted]
    if PYFLINK in names and not os.access(args.pyflink_python, os.X_OK):
        print(f"kappa.benchmarks.run: no PyFlink interpreter at {args.pyflink_python} (make bench installs it)",
              file=sys.stderr)
        return 2
    if min(args.events) < 1 or args.repeat < 1:
        print("kappa.benchmarks.run: --events and --repeat must be positive", file=sys.stderr)
        return 2

    mismatched: List[str] = []
    by_size = {}
    for events in args.events:
        archive = bench_archive.ensure(os.path.join(args.workdir, "archives"), events)
        print(f"archive: {archive.records:,} records ({archive.events:,} orders) in {len(archive.files)} Avro files",
              flush=True)
        rows, reference = bench_size(archive, [n for n in names if n not in (STREAM, KSTREAMS)], args, mismatched)
        print(table(rows))
        if REPLAY in names and BACKFILL in names:
            print(replay_vs_backfill(rows))
        if STREAM in names:
            backlog = run_stream(archive, args, True)
            if backlog["counts"] != reference or backlog["exit"] != 0:
                mismatched.append(f"{STREAM} at {archive.events:,} events")
            steady_events = args.stream_rate * args.stream_seconds * 100 // 101  # ~1% are redeliveries
            steady_archive = bench_archive.ensure(os.path.join(args.workdir, "archives"), steady_events)
            steady = run_stream(steady_archive, args, False, args.stream_rate)
            steady["rate"] = args.stream_rate
            if steady["exit"] != 0:
                mismatched.append(f"{STREAM} steady run at {archive.events:,} events")
            print(stream_report(backlog, steady, args.stream_seconds))
            rows.append({"contender": STREAM, "backlog": _without_counts(backlog), "steady": _without_counts(steady)})
        if KSTREAMS in names:
            peer = run_kstreams(archive, args)
            if peer["exit"] != 0:
                mismatched.append(f"{KSTREAMS} at {archive.events:,} events (exit {peer['exit']})")
            print(backlogs_side_by_side(archive.records, backlog if STREAM in names else None, peer, reference))
            rows.append({"contender": KSTREAMS, "backlog": _without_counts(peer)})
        by_size[events] = {"records": archive.records, "windows": len(reference), "rows": rows}
    if len(args.events) > 1:
        print(growth(by_size))
    with open(os.path.join(args.workdir, "results.json"), "w") as out:
        json.dump(by_size, out, indent=1)
    if mismatched:
        print(f"counts differ from the limit's: {', '.join(mismatched)}", file=sys.stderr)
        return 1
    checked = [name for name in names if name != KSTREAMS]
    print(f"all {len(checked)} contenders agree on every window count"
          + (f" ({KSTREAMS} compared above, not checked)" if KSTREAMS in names else ""))
    return 0


def bench_size(archive: bench_archive.BenchArchive, names: List[str], args: argparse.Namespace,
               mismatched: List[str]) -> Tuple[List[dict], Dict[str, int]]:
    """Every contender on one archive: its rows, and the limit's counts."""
    rows: List[dict] = []
    reference: Dict[str, int] = {}
    for name in names:
        runs = [run_once(name, archive, args, attempt) for attempt in range(args.repeat)]
        if name == BASELINE:
            reference = runs[0]["counts"]
        if any(run["counts"] != reference for run in runs):
            mismatched.append(f"{name} at {archive.events:,} events")
        wall_s = statistics.median(run["wall_s"] for run in runs)
        rows.append({"contender": name, "wall_s": wall_s, "records_per_s": archive.records / wall_s,
                     "peak_mb": max(run["peak_mb"] for run in runs),
                     "runs_s": [round(run["wall_s"], 3) for run in runs]})
        print(f"  {name}: " + ", ".join(f"{run['wall_s']:.2f}s" for run in runs), flush=True)
    for row in rows:
        row["ratio"] = row["records_per_s"] / rows[0]["records_per_s"]
    return rows, reference


def _without_counts(figures: dict) -> dict:
    return {k: v for k, v in figures.items() if k != "counts"}


def growth(by_size: dict) -> str:
    """records/s of each contender at each size: flat means cost grows linearly with the input."""
    sizes = sorted(by_size)
    names = [row["contender"] for row in by_size[sizes[0]]["rows"] if "records_per_s" in row]
    lines = [f"{'records/s by size':<20} " + " ".join(f"{size:>12,}" for size in sizes)]
    for name in names:
        rates = [next(r for r in by_size[size]["rows"] if r["contender"] == name)["records_per_s"] for size in sizes]
        lines.append(f"{name:<20} " + " ".join(f"{rate:>12,.0f}" for rate in rates))
    return "\n".join(lines)

if __name__ == "__main__":
    sys.exit(main())
