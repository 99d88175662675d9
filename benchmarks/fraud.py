"""`make bench` for fraud-scoring: its bare-Python limit beside kappa's backfill on the direct runner and
on the embedded Flink, on the same seeded archive of payments and devices, results checked equal.

    python -m kappa.benchmarks.fraud [--payments 1000000,4000000] [--repeat 3] [--only kappa-backfill]

Every contender runs in a fresh process (its peak memory is its own) and writes the wall seconds of
the job alone and a digest of every scored record (sha256 over the records as canonical JSON, in
key order); a contender whose digest differs from the limit's fails the run (exit 1). The ratio is
records/s over the limit's records/s in this same run.
"""
import argparse
import dataclasses
import glob
import hashlib
import json
import os
import statistics
import sys
import time
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from kappa.benchmarks import memory

BASELINE = "limit"
STREAM = "kappa-flink-stream"
# A backlog's stragglers arrive up to minutes late: this much lateness keeps every one, so the stream
# scores what the limit scores. The steady run's archive arrives at most 5 s late, the job's
# out-of-orderness, and needs none.
BACKLOG_LATENESS = "10m"
STEADY_MAX_DELAY_MS = 5_000
HOURS = 24  # the archive's span of event time, whatever its size


@dataclasses.dataclass(frozen=True)
class FraudArchive:
    directory: str
    payments: int  # distinct payments asked of the generator
    records: int  # what a contender reads: payments, devices, redeliveries and malformed records

    def pattern(self, stream: str) -> str:
        return os.path.join(self.directory, stream, "*.avro")


def ensure(root: str, payments: int, max_delay_ms: Optional[int] = None) -> FraudArchive:
    """The seeded archive of `payments` payments under `root`, generated unless a complete one is there;
    `max_delay_ms` caps how late any record arrives (stragglers and redeliveries included)."""
    from kappa.io import generate_fraud

    directory = os.path.join(root, f"fraud-{payments}" + (f"-delay-{max_delay_ms}" if max_delay_ms else ""))
    done = os.path.join(directory, "complete.json")
    if not os.path.exists(done):
        for stale in glob.glob(os.path.join(directory, "*", "*")):
            os.remove(stale)
        written = generate_fraud.write_fraud_archive(
            generate_fraud.FraudConfig(payments=payments, hours=HOURS, seed=4, max_delay_ms=max_delay_ms),
            directory, "avro")
        with open(done, "w") as out:
            json.dump({"records": written.payments.records + written.devices.records}, out)
    with open(done) as meta:
        return FraudArchive(directory, payments, json.load(meta)["records"])


def digest(records: Iterable[dict]) -> Tuple[str, int]:
    """sha256 of the records as canonical JSON lines in key order, and how many there were."""
    lines = sorted((record["key"], json.dumps(record, sort_keys=True)) for record in records)
    sha = hashlib.sha256()
    for _, line in lines:
        sha.update(line.encode())
        sha.update(b"\n")
    return sha.hexdigest(), len(lines)


def limit(archive: FraudArchive, workdir: str) -> Tuple[float, Iterable[dict]]:
    """`kappa.benchmarks.fraud_limit`: one process, fastavro, dicts and bisect."""
    from kappa.benchmarks import fraud_limit

    payments, devices = sorted(glob.glob(archive.pattern("payments"))), sorted(glob.glob(archive.pattern("devices")))
    started = time.perf_counter()
    scored = fraud_limit.score_archive(payments, devices)
    return time.perf_counter() - started, scored.values()


def _kappa(runner: str, *flags: str) -> Callable[[FraudArchive, str], Tuple[float, Iterable[dict]]]:
    def contender(archive: FraudArchive, workdir: str) -> Tuple[float, Iterable[dict]]:
        from kappa.io import writers
        from kappa.runners import cli

        out = os.path.join(workdir, f"kappa-{runner}")
        started = time.perf_counter()
        code = cli.main(["run", "fraud-scoring", "--input", f"payments={archive.pattern('payments')}",
                         "--input", f"devices={archive.pattern('devices')}", "--input-format", "avro",
                         "--output", out, "--runner", runner, *flags])
        wall_s = time.perf_counter() - started
        if code != 0:
            raise RuntimeError(f"kappa run fraud-scoring --runner {runner} exited {code}")
        return wall_s, writers.read_json_lines(out, "results")

    contender.__doc__ = f"`kappa run fraud-scoring --mode batch --runner {runner}`"
    return contender


CONTENDERS: Dict[str, Callable[[FraudArchive, str], Tuple[float, Iterable[dict]]]] = {
    BASELINE: limit,
    "kappa-backfill": _kappa("direct"),
    "kappa-flink-batch": _kappa("flink", "--parallelism", "2"),
}


def run_once(name: str, archive: FraudArchive, workdir: str, attempt: int) -> dict:
    result_path = os.path.join(workdir, f"fraud-{name}-{attempt}.json")
    done, peak_mb = memory.run_measured(
        [sys.executable, "-m", "kappa.benchmarks.fraud", "--contender", name, "--archive", archive.directory,
         "--workdir", os.path.join(workdir, f"fraud-{name}"), "--result", result_path])
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    with open(result_path) as result:
        return {**json.load(result), "peak_mb": peak_mb}


def bench_size(archive: FraudArchive, names: List[str], repeat: int, workdir: str) -> Tuple[List[dict], List[str]]:
    rows, mismatched = [], []
    for name in names:
        runs = [run_once(name, archive, workdir, attempt) for attempt in range(repeat)]
        print(f"  {name}: " + ", ".join(f"{run['wall_s']:.2f}s" for run in runs), flush=True)
        wall_s = statistics.median(run["wall_s"] for run in runs)
        rows.append({"contender": name, "wall_s": wall_s, "records_per_s": archive.records / wall_s,
                     "peak_mb": max(run["peak_mb"] for run in runs), "runs_s": [round(r["wall_s"], 2) for r in runs],
                     "scored": runs[0]["scored"], "digest": runs[0]["digest"]})
        if any(run["digest"] != rows[0]["digest"] for run in runs):
            mismatched.append(f"{name} at {archive.payments:,} payments")
    for row in rows:
        row["ratio"] = row["records_per_s"] / rows[0]["records_per_s"]
    return rows, mismatched


def run_stream(archive: FraudArchive, workdir: str, backlog: bool, rate: int) -> dict:
    """`kappa.benchmarks.fraud_stream` in a process of its own: its figures and peak memory."""
    phase = "backlog" if backlog else "steady"
    result_path = os.path.join(workdir, f"fraud-{STREAM}-{phase}{'' if backlog else f'-{rate}'}.json")
    if os.path.exists(result_path):
        os.remove(result_path)  # an earlier run's figures are not this one's
    command = [sys.executable, "-m", "kappa.benchmarks.fraud_stream", "--archive", archive.directory,
               "--workdir", os.path.join(workdir, f"fraud-{STREAM}"), "--result", result_path]
    command += ["--backlog", "--allowed-lateness", BACKLOG_LATENESS] if backlog else ["--rate", str(rate)]
    done, peak_mb = memory.run_measured(command)
    if not os.path.exists(result_path):
        raise RuntimeError(f"{STREAM} {phase} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    with open(result_path) as result:
        return {**json.load(result), "peak_mb": peak_mb, "exit": done.returncode}


def bench_stream(args: argparse.Namespace) -> dict:
    """The backlog, then each steady rate: figures printed, and a row whose runs all checked out."""
    root = os.path.join(args.workdir, "archives")
    backlog = run_stream(ensure(root, args.stream_backlog), args.workdir, True, 0)
    steady = [run_stream(ensure(root, rate * args.stream_seconds, STEADY_MAX_DELAY_MS), args.workdir, False, rate)
              for rate in args.stream_rates]
    print(stream_report(backlog, steady), flush=True)
    return {"contender": STREAM, "backlog": backlog, "steady": steady,
            "exits": [run["exit"] for run in (backlog, *steady)]}


def stream_report(backlog: dict, steady: List[dict]) -> str:
    lines = [f"{STREAM} (Kafka -> Flink session cluster, parallelism 2 -> Kafka):",
             f"  backlog: {backlog['payments']:,} payments ({backlog['records']:,} records) at "
             f"{backlog['payments_per_s']:,.0f} payments/s ({backlog['throughput_per_s']:,.0f} records/s) from the "
             f"job's start to lag 0, {backlog['sustained_payments_per_s']:,.0f} payments/s from its first commit "
             f"({backlog['first_commit_s']:.1f} s in); results equal the limit's: {backlog['results_match']}, "
             f"late {backlog['late']:,}; peak {backlog['peak_mb']:,.0f} MB (broker and Flink included)"]
    if "scored_s" in backlog:  # absent when nothing was scored
        lines.append(f"    {backlog['scored_payments_per_s']:,.0f} payments/s scored, the last score "
                     f"{backlog['scored_s']:.1f} s after the start; scores written per 10 s from the start: "
                     + ", ".join(f"{s}s {n:,}" for s, n in backlog["scored_per_10s"]))
    for run in steady:
        lines.append(f"  steady at {run['rate_payments_per_s']:,.0f} payments/s: {run['payments']:,} payments produced at "
                     f"{run['produced_payments_per_s']:,.0f}/s; consumer lag (records) "
                     + ", ".join(f"{t:.0f}s {n:,}" for t, n in run["lag"]))
        for key, what in (("latency_ms", "all"), ("latency_after_warm_up_ms", "after warm-up")):
            latency = run.get(key)
            if latency:
                lines.append(f"    latency, watermark past a payment -> its score in the topic, {what}, "
                             f"{latency['payments']:,} payments: p50 {latency['p50']:,.0f} ms, "
                             f"p99 {latency['p99']:,.0f} ms, max {latency['max']:,} ms")
        lines.append(f"    results equal the limit's: {run['results_match']}, late {run['late']:,}, "
                     f"peak {run['peak_mb']:,.0f} MB")
    return "\n".join(lines)


def table(rows: List[dict]) -> str:
    lines = [f"{'contender':<20} {'wall s':>8} {'records/s':>11} {'x limit':>8} {'peak MB':>8} {'scored':>10}"]
    for row in rows:
        lines.append(f"{row['contender']:<20} {row['wall_s']:>8.2f} {row['records_per_s']:>11,.0f} "
                     f"{row['ratio']:>8.3f} {row['peak_mb']:>8,.0f} {row['scored']:>10,}")
    return "\n".join(lines)


def _sizes(text: str) -> List[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of counts: {text!r}") from None


def _contender_main(args: argparse.Namespace) -> int:
    """One contender, in this process: the figures go to --result."""
    os.makedirs(args.workdir, exist_ok=True)
    with open(os.path.join(args.archive, "complete.json")) as meta:
        archive = FraudArchive(args.archive, 0, json.load(meta)["records"])
    wall_s, records = CONTENDERS[args.contender](archive, args.workdir)
    sha, scored = digest(records)
    with open(args.result, "w") as out:
        json.dump({"wall_s": wall_s, "digest": sha, "scored": scored}, out)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="kappa.benchmarks.fraud", description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=_sizes, default=[1_000_000, 4_000_000],
                        help="distinct payments in the archive; several, comma-separated, show how cost grows")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender at the first size (1 at the others)")
    parser.add_argument("--only", help="comma-separated contenders (the limit always runs)")
    parser.add_argument("--stream-backlog", type=int, default=200_000, help="payments in the streaming backlog")
    parser.add_argument("--stream-rates", type=_sizes, default=[5_000, 1_000],
                        help="payments/s of each steady streaming run, comma-separated")
    parser.add_argument("--stream-seconds", type=int, default=60, help="how long the steady streaming run produces")
    parser.add_argument("--workdir", default="build/bench")
    parser.add_argument("--contender", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    parser.add_argument("--archive", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.contender:
        return _contender_main(args)
    names = [*CONTENDERS, STREAM]
    if args.only:
        unknown = set(args.only.split(",")) - set(names)
        if unknown:
            print(f"kappa.benchmarks.fraud: unknown contender(s) {sorted(unknown)}; known: {names}", file=sys.stderr)
            return 2
        names = [n for n in names if n == BASELINE or n in args.only.split(",")]
    if min(args.payments) < 1 or args.repeat < 1:
        print("kappa.benchmarks.fraud: --payments and --repeat must be positive", file=sys.stderr)
        return 2
    mismatched, by_size = [], {}
    for i, payments in enumerate(args.payments):
        archive = ensure(os.path.join(args.workdir, "archives"), payments)
        print(f"fraud-scoring archive: {archive.records:,} records ({payments:,} payments asked) in Avro", flush=True)
        rows, differ = bench_size(archive, [n for n in names if n != STREAM], args.repeat if i == 0 else 1,
                                  args.workdir)
        mismatched += differ
        print(table(rows), flush=True)
        if STREAM in names and i == 0:
            rows.append(bench_stream(args))
            if any(rows[-1]["exits"]):
                mismatched.append(f"{STREAM} (exits {rows[-1]['exits']})")
        by_size[payments] = {"records": archive.records, "rows": rows}
    with open(os.path.join(args.workdir, "fraud-results.json"), "w") as out:
        json.dump(by_size, out, indent=1)
    if mismatched:
        print(f"scored records differ from the limit's: {', '.join(mismatched)}", file=sys.stderr)
        return 1
    print(f"all {len(names)} fraud-scoring contenders agree on every scored record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
