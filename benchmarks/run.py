"""`make bench`: every contender on the same seeded archive, in one run, checked and compared.

    python -m kappa.benchmarks.run [--events 1000000] [--repeat 3] [--only limit,kappa-backfill]
    python -m kappa.benchmarks.run --events 1000000,4000000,10000000 --repeat 1 --only kappa-backfill

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
from typing import Dict, List, Tuple

from kappa.benchmarks import archive as bench_archive
from kappa.benchmarks import memory

BASELINE = "limit"
PYFLINK = "pyflink"
PYFLINK_JOB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyflink_job.py")
ORDER = [BASELINE, "stock-beam", PYFLINK, "kappa-per-element", "kappa-backfill", "kappa-flink-batch"]


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


def table(rows: List[dict]) -> str:
    lines = [f"{'contender':<20} {'wall s':>8} {'records/s':>11} {'x limit':>8} {'peak MB':>8}"]
    for row in rows:
        lines.append(f"{row['contender']:<20} {row['wall_s']:>8.2f} {row['records_per_s']:>11,.0f} "
                     f"{row['ratio']:>8.3f} {row['peak_mb']:>8,.0f}")
    return "\n".join(lines)


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
        rows, windows = bench_size(archive, names, args, mismatched)
        print(table(rows))
        by_size[events] = {"records": archive.records, "windows": windows, "rows": rows}
    if len(args.events) > 1:
        print(growth(by_size))
    with open(os.path.join(args.workdir, "results.json"), "w") as out:
        json.dump(by_size, out, indent=1)
    if mismatched:
        print(f"counts differ from the limit's: {', '.join(mismatched)}", file=sys.stderr)
        return 1
    print(f"all {len(names)} contenders agree on every window count")
    return 0


def bench_size(archive: bench_archive.BenchArchive, names: List[str], args: argparse.Namespace,
               mismatched: List[str]) -> Tuple[List[dict], int]:
    """Every contender on one archive: its rows, and how many windows the limit counted."""
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
    return rows, len(reference)


def growth(by_size: dict) -> str:
    """records/s of each contender at each size: flat means cost grows linearly with the input."""
    sizes = sorted(by_size)
    names = [row["contender"] for row in by_size[sizes[0]]["rows"]]
    lines = [f"{'records/s by size':<20} " + " ".join(f"{size:>12,}" for size in sizes)]
    for name in names:
        rates = [next(r for r in by_size[size]["rows"] if r["contender"] == name)["records_per_s"] for size in sizes]
        lines.append(f"{name:<20} " + " ".join(f"{rate:>12,.0f}" for rate in rates))
    return "\n".join(lines)

if __name__ == "__main__":
    sys.exit(main())
