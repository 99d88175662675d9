"""Writing results and dead letters as JSON Lines shards: `<dir>/results-*.jsonl`, `<dir>/dead-letter-*.jsonl`."""
from __future__ import annotations

import glob
import json
import os
from typing import Iterator, List

import apache_beam as beam
from apache_beam.transforms import trigger, window

RESULTS = "results"
DEAD_LETTERS = "dead-letter"


def clear_outputs(output_dir: str) -> None:
    """Remove the shards of an earlier run, so a rerun leaves no stale ones behind."""
    os.makedirs(output_dir, exist_ok=True)
    for prefix in (RESULTS, DEAD_LETTERS):
        for path in glob.glob(os.path.join(output_dir, f"{prefix}-*.jsonl")):
            os.remove(path)


def ensure_outputs(output_dir: str) -> None:
    """An output with no records still gets its (empty) shard, so readers find every file they expect."""
    for prefix in (RESULTS, DEAD_LETTERS):
        if not shards(output_dir, prefix):
            open(os.path.join(output_dir, f"{prefix}-00000-of-00001.jsonl"), "w").close()


class _WriteShard(beam.DoFn):
    def __init__(self, path: str):
        self._path = path

    def process(self, keyed):
        _, lines = keyed
        partial = f"{self._path}.partial"
        with open(partial, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(line)
                out.write("\n")
        os.replace(partial, self._path)  # a reader never sees a half-written shard
        yield self._path


class WriteJsonLines(beam.PTransform):
    """Elements already encoded as JSON text -> one shard `<output_dir>/<prefix>-00000-of-00001.jsonl`.

    The shard is written once the input is complete (its watermark at the end of time): after a
    backfill, or at the end of a replayed stream; Beam's `WriteToText` refuses unbounded input. The
    outputs are window results and dead letters, small beside the input, so one shard is enough;
    a live stream writes to a streaming sink instead.
    """

    def __init__(self, output_dir: str, prefix: str):
        super().__init__()
        self._path_prefix = os.path.join(output_dir, prefix)

    def expand(self, pcoll):
        return (
            pcoll
            | "WhenComplete" >> beam.WindowInto(
                window.GlobalWindows(),
                trigger=trigger.AfterWatermark(),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
            )
            | "OneShard" >> beam.Map(lambda line: (0, line))
            | "Collect" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(f"{self._path_prefix}-00000-of-00001.jsonl"))
        )


def read_json_lines(output_dir: str, prefix: str) -> Iterator[dict]:
    for path in shards(output_dir, prefix):
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def shards(output_dir: str, prefix: str) -> List[str]:
    return sorted(glob.glob(os.path.join(output_dir, f"{prefix}-*.jsonl")))
