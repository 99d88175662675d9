"""Writing a run's outputs as JSON Lines shards, `<dir>/<prefix>-*.jsonl` (`results`, each other output
by its name, `dead-letter`, `late`); and checking, before a job starts, that it can write them."""
from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import uuid
from typing import Dict, Iterable, Iterator, List, Optional, TextIO, Tuple

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
    for pattern in (SUMMARY, *(f"{prefix}{suffix}" for prefix in prefixes for suffix in ("-*.jsonl", _PART + "*"))):
        for path in glob.glob(os.path.join(output_dir, pattern)):
            os.remove(path)


def ensure_outputs(output_dir: str, prefixes: Iterable[str]) -> None:
    """An output with no records still gets its (empty) shard, so readers find every file they expect."""
    for prefix in prefixes:
        if not shards(output_dir, prefix):
            open(os.path.join(output_dir, f"{prefix}-00000-of-00001.jsonl"), "w").close()


class _WriteBundle(beam.DoFn):
    """Each bundle's lines into a part file of its own per prefix, `<prefix>.part-<uuid>`; at the
    bundle's end, (prefix, path) of each part it wrote. A bundle that fails and is retried leaves its
    part unnamed by any output; the join removes it."""

    def start_bundle(self) -> None:
        self._parts: Dict[str, Tuple[str, TextIO]] = {}

    def process(self, prefixed: Tuple[str, str]):
        prefix, line = prefixed
        part = self._parts.get(prefix)
        if part is None:
            path = f"{prefix}{_PART}{uuid.uuid4().hex}"
            part = self._parts[prefix] = (path, open(path, "w", encoding="utf-8"))
        part[1].write(line)
        part[1].write("\n")
        return ()

    def finish_bundle(self):
        parts, self._parts = self._parts, {}
        for prefix, (path, out) in parts.items():
            out.close()
            yield window.GlobalWindows.windowed_value((prefix, path))


_PART = ".part-"


class _JoinParts(beam.DoFn):
    def process(self, grouped):
        prefix, parts = grouped
        parts = sorted(parts)
        path = f"{prefix}-00000-of-00001.jsonl"
        partial = f"{path}.partial"
        with open(partial, "wb") as out:
            for part in parts:
                with open(part, "rb") as lines:
                    shutil.copyfileobj(lines, out)
        os.replace(partial, path)  # a reader never sees a half-written shard
        for part in glob.glob(glob.escape(prefix) + _PART + "*"):  # the joined ones, and any of a failed bundle
            os.remove(part)
        yield path


class WriteJsonLines(beam.PTransform):
    """PCollections of (path prefix, JSON text) pairs, in any windowing -> one shard per prefix,
    `<path prefix>-00000-of-00001.jsonl`.

    Each bundle writes its lines where it runs, to part files of its own (no line is shuffled: the
    FnApiRunner would carry each through its own process, and Flink's batch GroupByKey holds a key's
    values as one record, over its ~78 MB sort buffer for a 1M-payment fraud backfill's results).
    Once the input is complete (its watermark at the end of time: after a backfill, or at the end of
    a replayed stream) the parts of each prefix are joined into its shard by one small grouping of
    their paths. Beam's `WriteToText` refuses unbounded input. A live stream writes to a streaming
    sink instead.
    """

    def expand(self, outputs):
        parts = [when_complete(output, f"WhenComplete{i}")
                 | f"WriteParts{i}" >> beam.ParDo(_WriteBundle()).with_output_types(Tuple[str, str])
                 for i, output in enumerate(outputs)]
        return (
            parts
            | "AllParts" >> beam.Flatten()
            | "ByShard" >> beam.GroupByKey()
            | "JoinParts" >> beam.ParDo(_JoinParts())
        )


def when_complete(output: beam.PCollection, label: str) -> beam.PCollection:
    """`output` in the global window, emitted once the input is complete. A bounded input keeps the
    default trigger, which means the same there, and one already so windowed is taken as it is (a
    WindowInto costs several microseconds per element: a backfill's million results): the FnApiRunner
    then groups it on its fast path rather than through the general trigger driver. An unbounded one
    (a replay's TestStream) needs the trigger said, or Beam refuses it."""
    if output.is_bounded:
        if output.windowing.is_default():
            return output
        return output | label >> beam.WindowInto(window.GlobalWindows())
    return output | label >> beam.WindowInto(window.GlobalWindows(), trigger=trigger.AfterWatermark(),
                                             accumulation_mode=trigger.AccumulationMode.DISCARDING)


def read_json_lines(output_dir: str, prefix: str) -> Iterator[dict]:
    for path in shards(output_dir, prefix):
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def shards(output_dir: str, prefix: str) -> List[str]:
    return sorted(glob.glob(os.path.join(output_dir, f"{prefix}-*.jsonl")))
