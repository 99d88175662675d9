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
    def __init__(self, output_dir: str):
        self._output_dir = output_dir

    def process(self, grouped):
        prefix, lines = grouped
        path = os.path.join(self._output_dir, f"{prefix}-00000-of-00001.jsonl")
        partial = f"{path}.partial"
        with open(partial, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(line)
                out.write("\n")
        os.replace(partial, path)  # a reader never sees a half-written shard
        yield path


class WriteJsonLines(beam.PTransform):
    """PCollections of (prefix, JSON text) pairs, in any windowing -> one shard per prefix,
    `<output_dir>/<prefix>-00000-of-00001.jsonl`.

    The shards are written once the input is complete (its watermark at the end of time): after a
    backfill, or at the end of a replayed stream; Beam's `WriteToText` refuses unbounded input. The
    outputs are window results and dead letters, small beside the input, so one shard each is enough,
    and one grouping writes them all: a batch runner pays for each stage. A live stream writes to a
    streaming sink instead.
    """

    def __init__(self, output_dir: str):
        super().__init__()
        self._output_dir = output_dir

    def expand(self, outputs):
        complete = [
            output | f"WhenComplete{i}" >> beam.WindowInto(
                window.GlobalWindows(),
                trigger=trigger.AfterWatermark(),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
            )
            for i, output in enumerate(outputs)
        ]
        return (
            complete
            | "AllOutputs" >> beam.Flatten()
            | "ByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(self._output_dir))
        )


def read_json_lines(output_dir: str, prefix: str) -> Iterator[dict]:
    for path in shards(output_dir, prefix):
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def shards(output_dir: str, prefix: str) -> List[str]:
    return sorted(glob.glob(os.path.join(output_dir, f"{prefix}-*.jsonl")))
