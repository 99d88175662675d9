"""Writing a run's outputs as JSON Lines shards, `<dir>/<prefix>-*.jsonl` (`results`, each other output
by its name, `dead-letter`, `late`); and checking, before a job starts, that it can write them."""
from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import zlib
from typing import Iterable, Iterator, List, Optional, Tuple

import apache_beam as beam
from apache_beam.transforms import trigger, window

RESULTS = "results"
DEAD_LETTERS = "dead-letter"
LATE = "late"
SUMMARY = "summary.json"
_GLOB_CHARS = set("*?[")


def check_output_dir(output_dir: str, input_path: Optional[str] = None) -> None:
    """Creates the output folder, or raises ValueError (one line) before a job reads anything: a file
    in its place, a folder that cannot be created or written, or an output that overlaps the input
    (a rerun would read its own results, or write over its input)."""
    if input_path is not None:
        _check_apart(input_path, output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"output {output_dir!r} is a file, not a folder")
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as err:
        raise ValueError(f"output {output_dir!r} cannot be created: {err.strerror}") from None
    try:
        probe, probe_path = tempfile.mkstemp(prefix=".kappa-write-check-", dir=output_dir)
        os.close(probe)
        os.remove(probe_path)
    except OSError as err:
        raise ValueError(f"output {output_dir!r} is not writable: {err.strerror}") from None


def _check_apart(input_path: str, output_dir: str) -> None:
    """The input is read from its folder (a folder input), or its glob's folder (the part before the
    first wildcard), or is one file; the output may be neither that folder, nor inside a folder or glob
    input, nor hold the input."""
    if _GLOB_CHARS & set(input_path):
        parts = input_path.split(os.sep)
        fixed = next(i for i, part in enumerate(parts) if _GLOB_CHARS & set(part))
        folder, whole_folder = os.sep.join(parts[:fixed]) or os.curdir, True
    else:
        whole_folder = os.path.isdir(input_path)
        folder = input_path if whole_folder else os.path.dirname(input_path) or os.curdir
    output, read_from = os.path.realpath(output_dir), os.path.realpath(folder)
    if output == read_from:
        raise ValueError(f"output {output_dir!r} is the input's folder: a later run would read its results as input")
    if whole_folder and _inside(output, read_from):
        raise ValueError(f"output {output_dir!r} is inside the input's folder {folder!r}: "
                         "a later run would read its results as input")
    if _inside(read_from if whole_folder else os.path.realpath(input_path), output):
        raise ValueError(f"input {input_path!r} is inside the output {output_dir!r}: "
                         "a run's output folder must not hold its input")


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder and path != folder


def clear_outputs(output_dir: str, prefixes: Iterable[str]) -> None:
    """Remove the outputs of an earlier run, so a rerun leaves no stale ones behind, and a run that
    fails or is interrupted leaves no summary of another."""
    os.makedirs(output_dir, exist_ok=True)
    for pattern in (SUMMARY, *(f"{prefix}-*.jsonl" for prefix in prefixes)):
        for path in glob.glob(os.path.join(output_dir, pattern)):
            os.remove(path)


def ensure_outputs(output_dir: str, prefixes: Iterable[str]) -> None:
    """An output with no records still gets its (empty) shard, so readers find every file they expect."""
    for prefix in prefixes:
        if not shards(output_dir, prefix):
            open(os.path.join(output_dir, f"{prefix}-00000-of-00001.jsonl"), "w").close()


# Lines are grouped by (prefix, part) before they are written: a batch runner holds each key's lines
# as one record (Flink's batch GroupByKey concatenates them per partition, and refuses a record over
# its sort buffer, ~78 MB: a 1M-payment fraud backfill's results were one such record).
PARTS = 64


def _part_of(prefixed: Tuple[str, str]) -> Tuple[Tuple[str, int], str]:
    prefix, line = prefixed
    return (prefix, zlib.crc32(line.encode()) % PARTS), line


class _WritePart(beam.DoFn):
    def process(self, grouped):
        (prefix, part), lines = grouped
        path = f"{prefix}.part-{part:05d}"
        with open(path, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(line)
                out.write("\n")
        yield prefix, path


class _JoinParts(beam.DoFn):
    def process(self, grouped):
        prefix, parts = grouped
        path = f"{prefix}-00000-of-00001.jsonl"
        partial = f"{path}.partial"
        with open(partial, "wb") as out:
            for part in sorted(parts):
                with open(part, "rb") as lines:
                    shutil.copyfileobj(lines, out)
        os.replace(partial, path)  # a reader never sees a half-written shard
        for part in parts:
            os.remove(part)
        yield path


class WriteJsonLines(beam.PTransform):
    """PCollections of (path prefix, JSON text) pairs, in any windowing -> one shard per prefix,
    `<path prefix>-00000-of-00001.jsonl`.

    The shards are written once the input is complete (its watermark at the end of time): after a
    backfill, or at the end of a replayed stream; Beam's `WriteToText` refuses unbounded input. One
    grouping writes every output (a batch runner pays for each stage), in PARTS parts per output,
    joined into its shard by a second, small grouping. A live stream writes to a streaming sink instead.
    """

    def expand(self, outputs):
        complete = [output | f"WhenComplete{i}" >> when_complete(output) for i, output in enumerate(outputs)]
        return (
            complete
            | "AllOutputs" >> beam.Flatten()
            | "ToParts" >> beam.Map(_part_of).with_output_types(Tuple[Tuple[str, int], str])
            | "ByPart" >> beam.GroupByKey()
            | "WritePart" >> beam.ParDo(_WritePart()).with_output_types(Tuple[str, str])
            | "ByShard" >> beam.GroupByKey()
            | "JoinParts" >> beam.ParDo(_JoinParts())
        )


def when_complete(output: beam.PCollection) -> beam.WindowInto:
    """The global window, emitted once the input is complete. A bounded input keeps the default trigger,
    which means the same there: the FnApiRunner then groups it on its fast path rather than through
    the general trigger driver, which costs several microseconds per line (a million results of a
    backfill). An unbounded one (a replay's TestStream) needs the trigger said, or Beam refuses it."""
    if output.is_bounded:
        return beam.WindowInto(window.GlobalWindows())
    return beam.WindowInto(window.GlobalWindows(), trigger=trigger.AfterWatermark(),
                           accumulation_mode=trigger.AccumulationMode.DISCARDING)


def read_json_lines(output_dir: str, prefix: str) -> Iterator[dict]:
    for path in shards(output_dir, prefix):
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def shards(output_dir: str, prefix: str) -> List[str]:
    return sorted(glob.glob(os.path.join(output_dir, f"{prefix}-*.jsonl")))
