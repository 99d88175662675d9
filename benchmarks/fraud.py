"""`make bench` for fraud-scoring: its bare-Python limit beside kappa's backfill on the direct runner and
on the embedded Flink, on the same seeded archive of payments and devices, results checked equal
(`kappa.benchmarks.archive_bench`), then the stream from a Kafka backlog and at steady rates.

    python -m kappa.benchmarks.fraud [--payments 1000000,4000000] [--repeat 3] [--only kappa-backfill]
"""
import argparse
import json
import os
import sys
from typing import List, Optional

from kappa.benchmarks import archive_bench, memory
from kappa.benchmarks.archive_bench import Archive

STREAM = "kappa-flink-stream"
# A backlog's stragglers arrive up to minutes late: this much lateness keeps every one, so the stream
# scores what the limit scores. The steady run's archive arrives at most 5 s late, the job's
# out-of-orderness, and needs none.
BACKLOG_LATENESS = "10m"
STEADY_MAX_DELAY_MS = 5_000
HOURS = 24  # the archive's span of event time, whatever its size


def generate(payments: int, max_delay_ms: Optional[int], directory: str) -> int:
    from kappa.io import generate_fraud

    written = generate_fraud.write_fraud_archive(
        generate_fraud.FraudConfig(payments=payments, hours=HOURS, seed=4, max_delay_ms=max_delay_ms),
        directory, "avro")
    return written.payments.records + written.devices.records


def limit(archive: Archive) -> archive_bench.Written:
    """`kappa.benchmarks.fraud_limit`: one process, fastavro, dicts and bisect."""
    from kappa.benchmarks import fraud_limit

    return {"results": fraud_limit.score_archive(archive.paths("payments"), archive.paths("devices")).values()}


BENCH = archive_bench.Bench(module="kappa.benchmarks.fraud", pipeline="fraud-scoring", streams=("payments", "devices"),
                            outputs=("results",), unit="payments", sizes=(1_000_000, 4_000_000),
                            generate=generate, limit=limit)


def run_stream(archive: Archive, workdir: str, backlog: bool, rate: int) -> dict:
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
    backlog = run_stream(BENCH.ensure(root, args.stream_backlog), args.workdir, True, 0)
    steady = [run_stream(BENCH.ensure(root, rate * args.stream_seconds, STEADY_MAX_DELAY_MS), args.workdir, False, rate)
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


def _stream_after_size(args: argparse.Namespace, archive: Archive, rows: List[dict]) -> List[str]:
    rows.append(bench_stream(args))
    return [f"{STREAM} (exits {rows[-1]['exits']})"] if any(rows[-1]["exits"]) else []


def main(argv=None) -> int:
    parser = archive_bench.parser(BENCH, __doc__)
    parser.add_argument("--stream-backlog", type=int, default=200_000, help="payments in the streaming backlog")
    parser.add_argument("--stream-rates", type=archive_bench.sizes, default=[5_000, 1_000],
                        help="payments/s of each steady streaming run, comma-separated")
    parser.add_argument("--stream-seconds", type=int, default=60, help="how long the steady streaming run produces")
    return archive_bench.main(BENCH, parser.parse_args(argv), extra=[STREAM], after_first_size=_stream_after_size)


if __name__ == "__main__":
    sys.exit(main())
