"""Runner profiles: how a `--runner` name becomes a Beam runner and its options for a mode.

The stock `DirectRunner` first tries to download the "prism" runner from GitHub, which an offline
machine cannot do; kappa therefore names the runner it means, so every run is deterministic:
- batch (backfill) runs on the `FnApiRunner`, Beam's portable runner with combiner lifting and fused
  stages: in this process, or in one worker process per core when the job has that many independent
  inputs to spread (worker processes take about a second to start, so a small job stays in-process);
- replay runs on the `BundleBasedDirectRunner`, the direct runner that executes TestStream with
  watermarks, processing time, triggers and late data exactly as a streaming runner would, without
  its per-bundle introspection (`kappa.runners.lean_direct`).
"""
from __future__ import annotations

import enum
import os
from typing import Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from kappa.runners import lean_direct


class Mode(enum.Enum):
    BATCH = "batch"  # an archive, read as a bounded source
    REPLAY = "replay"  # an archive, played as a stream with watermarks
    STREAM = "stream"  # a live source (Kafka) until the job is stopped


class RunnerProfile:
    """Turns a mode into a ready `beam.Pipeline`; one subclass per runner family."""

    name: str
    detaches = False  # whether a streaming job keeps running after `kappa run` returns
    job_name: Optional[str] = None

    def pipeline(self, mode: Mode, parallel_inputs: int = 1) -> beam.Pipeline:
        """`parallel_inputs`: how many pieces of input the job can read at once (file splits)."""
        raise NotImplementedError

    def await_running(self, result: beam.runners.runner.PipelineResult) -> str:
        """For a detaching runner: wait until the job runs where it was sent; returns its state."""
        raise NotImplementedError


class DirectProfile(RunnerProfile):
    name = "direct"

    def __init__(self, workers: Optional[int] = None):
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        self.workers = workers or os.cpu_count() or 1

    def pipeline(self, mode: Mode, parallel_inputs: int = 1) -> beam.Pipeline:
        options = PipelineOptions()
        if mode is Mode.BATCH:
            workers = min(self.workers, parallel_inputs)
            if workers > 1:
                options = PipelineOptions(direct_num_workers=workers, direct_running_mode="multi_processing")
            return beam.Pipeline(runner=FnApiRunner(), options=options)
        options.view_as(StandardOptions).streaming = True
        lean_direct.install()
        return beam.Pipeline(runner=BundleBasedDirectRunner(), options=options)

