"""`make bench`'s batch comparison for a pipeline of named inputs: its bare-Python limit beside kappa's
backfill on the direct runner and on the embedded Flink, on the same seeded Avro archive, results
checked equal.

Each pipeline's module declares a `Bench` (its archive, its limit) and calls `main` with it. Every
contender runs in a fresh process (its peak memory is its own) and writes the wall seconds of the job
alone and a digest of every record it wrote (sha256 over each output's records as canonical JSON, in
output and key order); a contender whose digest differs from the limit's fails the run (exit 1). The
ratio is records/s over the limit's records/s in this same run.
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import hashlib
import json
import os
import statistics
import sys
import time
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from kappa.benchmarks import memory

BASELINE = "limit"
Written = Mapping[str, Iterable[dict]]  # output -> its records


@dataclasses.dataclass(frozen=True)
class Archive:
    directory: str
    size: int  # what the generator was asked for (payments, heartbeats, events)
    records: int  # what a contender reads: every input's records, redeliveries and malformed ones included

    def pattern(self, stream: str) -> str:
        return os.path.join(self.directory, stream, "*.avro")

    def paths(self, stream: str) -> List[str]:
        return sorted(glob.glob(self.pattern(stream)))


@dataclasses.dataclass(frozen=True)
class Bench:
    module: str  # `python -m <module> --contender NAME ...` runs one contender
    pipeline: str  # the `kappa run` name
    streams: Tuple[str, ...]  # the pipeline's inputs: DIR/<stream>/*.avro each
    outputs: Tuple[str, ...]  # the outputs compared
    unit: str  # what the generator's size counts
    sizes: Tuple[int, ...]  # the default sizes
    # (size, max delay in ms or None, directory) -> records written, every input's under DIR/<stream>/
    generate: Callable[[int, Optional[int], str], int]
    limit: Callable[[Archive], Written]

    def ensure(self, root: str, size: int, max_delay_ms: Optional[int] = None) -> Archive:
        """The seeded archive of `size` under `root`, generated unless a complete one is there; `max_delay_ms`
        caps how late any record arrives (stragglers and redeliveries included)."""
        directory = os.path.join(root, f"{self.pipeline}-{size}" + (f"-delay-{max_delay_ms}" if max_delay_ms else ""))
        done = os.path.join(directory, "complete.json")
        if not os.path.exists(done):
            for stale in glob.glob(os.path.join(directory, "*", "*")):
                os.remove(stale)
            records = self.generate(size, max_delay_ms, directory)
            with open(done, "w") as out:
                json.dump({"records": records}, out)
        with open(done) as meta:
            return Archive(directory, size, json.load(meta)["records"])

    def contenders(self) -> Dict[str, Callable[[Archive, str], Tuple[float, Written]]]:
        return {BASELINE: self._limit, "kappa-backfill": self._kappa("direct"),
                "kappa-flink-batch": self._kappa("flink", "--parallelism", "2")}

    def _limit(self, archive: Archive, workdir: str) -> Tuple[float, Written]:
        started = time.perf_counter()
        written = self.limit(archive)
        return time.perf_counter() - started, written

    def _kappa(self, runner: str, *flags: str) -> Callable[[Archive, str], Tuple[float, Written]]:
        def contender(archive: Archive, workdir: str) -> Tuple[float, Written]:
            from kappa.io import writers
            from kappa.runners import cli

            out = os.path.join(workdir, f"kappa-{runner}")
            inputs = [flag for stream in self.streams for flag in ("--input", f"{stream}={archive.pattern(stream)}")]
            started = time.perf_counter()
            code = cli.main(["run", self.pipeline, *inputs, "--input-format", "avro", "--output", out,
                             "--runner", runner, *flags])
            wall_s = time.perf_counter() - started
            if code != 0:
                raise RuntimeError(f"kappa run {self.pipeline} --runner {runner} exited {code}")
            return wall_s, {output: writers.read_json_lines(out, output) for output in self.outputs}

        return contender


def digest(written: Written) -> Tuple[str, int]:
    """sha256 of every output's records as canonical JSON lines, in output and key order, and how many
    records there were."""
    sha, count = hashlib.sha256(), 0
    for output in sorted(written):
        sha.update(f"# {output}\n".encode())
        for _, line in sorted((record["key"], json.dumps(record, sort_keys=True)) for record in written[output]):
            sha.update(line.encode())
            sha.update(b"\n")
            count += 1
    return sha.hexdigest(), count


def run_once(bench: Bench, name: str, archive: Archive, workdir: str, attempt: int) -> dict:
    result_path = os.path.join(workdir, f"{bench.pipeline}-{name}-{attempt}.json")
    done, peak_mb = memory.run_measured(
        [sys.executable, "-m", bench.module, "--contender", name, "--archive", archive.directory,
         "--workdir", os.path.join(workdir, f"{bench.pipeline}-{name}"), "--result", result_path])
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    with open(result_path) as result:
        return {**json.load(result), "peak_mb": peak_mb}


def bench_size(bench: Bench, archive: Archive, names: List[str], repeat: int,
               workdir: str) -> Tuple[List[dict], List[str]]:
    rows, mismatched = [], []
    for name in names:
        runs = [run_once(bench, name, archive, workdir, attempt) for attempt in range(repeat)]
        print(f"  {name}: " + ", ".join(f"{run['wall_s']:.2f}s" for run in runs), flush=True)
        wall_s = statistics.median(run["wall_s"] for run in runs)
        rows.append({"contender": name, "wall_s": wall_s, "records_per_s": archive.records / wall_s,
                     "peak_mb": max(run["peak_mb"] for run in runs), "runs_s": [round(r["wall_s"], 2) for r in runs],
                     "written": runs[0]["written"], "digest": runs[0]["digest"]})
        if any(run["digest"] != rows[0]["digest"] for run in runs):
            mismatched.append(f"{name} at {archive.size:,} {bench.unit}")
    for row in rows:
        row["ratio"] = row["records_per_s"] / rows[0]["records_per_s"]
    return rows, mismatched


def table(rows: List[dict]) -> str:
    lines = [f"{'contender':<20} {'wall s':>8} {'records/s':>11} {'x limit':>8} {'peak MB':>8} {'written':>10}"]
    for row in rows:
        lines.append(f"{row['contender']:<20} {row['wall_s']:>8.2f} {row['records_per_s']:>11,.0f} "
                     f"{row['ratio']:>8.3f} {row['peak_mb']:>8,.0f} {row['written']:>10,}")
    return "\n".join(lines)


def sizes(text: str) -> List[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of counts: {text!r}") from None


def parser(bench: Bench, doc: str) -> argparse.ArgumentParser:
    """The flags every pipeline's bench takes; a module may add its own before `main` parses them."""
    parser = argparse.ArgumentParser(prog=bench.module, description=doc.splitlines()[0])
    parser.add_argument(f"--{bench.unit}", dest="sizes", type=sizes, default=list(bench.sizes),
                        help=f"{bench.unit} in the archive; several, comma-separated, show how cost grows")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender at the first size (1 at the others)")
    parser.add_argument("--only", help="comma-separated contenders (the limit always runs)")
    parser.add_argument("--workdir", default="build/bench")
    parser.add_argument("--contender", choices=sorted(bench.contenders()), help=argparse.SUPPRESS)
    parser.add_argument("--archive", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser


def _contender_main(bench: Bench, args: argparse.Namespace) -> int:
    """One contender, in this process: the figures go to --result."""
    os.makedirs(args.workdir, exist_ok=True)
    with open(os.path.join(args.archive, "complete.json")) as meta:
        archive = Archive(args.archive, 0, json.load(meta)["records"])
    wall_s, written = bench.contenders()[args.contender](archive, args.workdir)
    sha, count = digest(written)
    with open(args.result, "w") as out:
        json.dump({"wall_s": wall_s, "digest": sha, "written": count}, out)
    return 0


# A step a module adds after a size's table (the streaming run, say): (args, archive, rows) -> mismatches.
AfterSize = Callable[[argparse.Namespace, Archive, List[dict]], List[str]]
STREAM = "kappa-flink-stream"


def add_stream_flags(parser: argparse.ArgumentParser, backlog: int) -> None:
    parser.add_argument("--stream-backlog", type=int, default=backlog,
                        help=f"the streaming run's backlog, in the generator's units (default {backlog:,})")


def stream_step(bench: Bench) -> AfterSize:
    """The pipeline streamed from a backlog (`kappa.benchmarks.stream_backlog`), in a process of its
    own: its figures and peak memory (broker and Flink included) as a row."""
    def step(args: argparse.Namespace, archive: Archive, rows: List[dict]) -> List[str]:
        backlog = bench.ensure(os.path.join(args.workdir, "archives"), args.stream_backlog)
        result_path = os.path.join(args.workdir, f"{bench.pipeline}-{STREAM}.json")
        if os.path.exists(result_path):
            os.remove(result_path)  # an earlier run's figures are not this one's
        done, peak_mb = memory.run_measured(
            [sys.executable, "-m", "kappa.benchmarks.stream_backlog", "--bench", bench.module.rsplit(".", 1)[1],
             "--archive", backlog.directory, "--workdir", os.path.join(args.workdir, f"{bench.pipeline}-{STREAM}"),
             "--result", result_path])
        if not os.path.exists(result_path):
            raise RuntimeError(f"{STREAM} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
        with open(result_path) as result:
            figures = {**json.load(result), "peak_mb": peak_mb}
        rows.append({"contender": STREAM, "backlog": figures})
        print(f"{STREAM} (Kafka -> Flink session cluster, parallelism 2 -> Kafka), a backlog of "
              f"{figures['records']:,} records ({backlog.size:,} {bench.unit} asked): {figures['throughput_per_s']:,.0f} "
              f"records/s from the job's start to lag 0, {figures['sustained_per_s']:,.0f} from its first commit "
              f"({figures['first_commit_s']:.1f} s in); the last result {figures['results_s']:.1f} s after the start "
              f"({figures['results_per_s']:,.0f} records/s); results equal the limit's: {figures['results_match']}, "
              f"late {figures['late']:,}; peak {peak_mb:,.0f} MB", flush=True)
        return [] if done.returncode == 0 else [f"{STREAM} (exit {done.returncode})"]

    return step


def main(bench: Bench, args: argparse.Namespace, extra: Iterable[str] = (),
         after_first_size: Optional[AfterSize] = None) -> int:
    """Every contender (and the `extra` names `after_first_size` runs) at every size; exit 1 on a mismatch."""
    if args.contender:
        return _contender_main(bench, args)
    prog = bench.module
    names = [*bench.contenders(), *extra]
    if args.only:
        unknown = set(args.only.split(",")) - set(names)
        if unknown:
            print(f"{prog}: unknown contender(s) {sorted(unknown)}; known: {names}", file=sys.stderr)
            return 2
        names = [n for n in names if n == BASELINE or n in args.only.split(",")]
    if min(args.sizes) < 1 or args.repeat < 1:
        print(f"{prog}: --{bench.unit} and --repeat must be positive", file=sys.stderr)
        return 2
    mismatched, by_size = [], {}
    batch = [n for n in names if n in bench.contenders()]
    for i, size in enumerate(args.sizes):
        archive = bench.ensure(os.path.join(args.workdir, "archives"), size)
        print(f"{bench.pipeline} archive: {archive.records:,} records ({size:,} {bench.unit} asked) in Avro", flush=True)
        rows, differ = bench_size(bench, archive, batch, args.repeat if i == 0 else 1, args.workdir)
        mismatched += differ
        print(table(rows), flush=True)
        if after_first_size is not None and i == 0 and len(batch) < len(names):
            mismatched += after_first_size(args, archive, rows)
        by_size[size] = {"records": archive.records, "rows": rows}
    with open(os.path.join(args.workdir, f"{bench.pipeline}-results.json"), "w") as out:
        json.dump(by_size, out, indent=1)
    if mismatched:
        print(f"records differ from the limit's: {', '.join(mismatched)}", file=sys.stderr)
        return 1
    print(f"all {len(names)} {bench.pipeline} contenders agree on every record written")
    return 0


def main_with_stream(bench: Bench, doc: str, argv: Optional[List[str]], backlog: int) -> int:
    """`main` with the streaming run after the first size (`stream_step`), for a module's command line."""
    parser_ = parser(bench, doc)
    add_stream_flags(parser_, backlog)
    return main(bench, parser_.parse_args(argv), extra=[STREAM], after_first_size=stream_step(bench))
