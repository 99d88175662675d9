"""Runner profiles: how a `--runner` name becomes a Beam runner and its options for a mode.

The stock `DirectRunner` first tries to download the "prism" runner from GitHub, which an offline
machine cannot do; kappa therefore names the runner it means, so every run is deterministic:
- batch (backfill) runs on the `FnApiRunner`, Beam's portable in-process runner with combiner lifting
  and fused stages;
- replay runs on the `BundleBasedDirectRunner`, the direct runner that executes TestStream with
  watermarks, processing time, triggers and late data exactly as a streaming runner would.
"""
from __future__ import annotations

import enum
from typing import Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.portability.fn_api_runner import FnApiRunner


class Mode(enum.Enum):
    BATCH = "batch"  # an archive, read as a bounded source
    REPLAY = "replay"  # an archive, played as a stream with watermarks
    STREAM = "stream"  # a live source (Kafka) until the job is stopped


class RunnerProfile:
    """Turns a mode into a ready `beam.Pipeline`; one subclass per runner family."""

    name: str
    detaches = False  # whether a streaming job keeps running after `kappa run` returns
    job_name: Optional[str] = None

    def pipeline(self, mode: Mode) -> beam.Pipeline:
        raise NotImplementedError

    def await_running(self, result: beam.runners.runner.PipelineResult) -> str:
        """For a detaching runner: wait until the job runs where it was sent; returns its state."""
        raise NotImplementedError


class DirectProfile(RunnerProfile):
    name = "direct"

    def pipeline(self, mode: Mode) -> beam.Pipeline:
        options = PipelineOptions()
        if mode is Mode.BATCH:
            return beam.Pipeline(runner=FnApiRunner(), options=options)
        options.view_as(StandardOptions).streaming = True
        return beam.Pipeline(runner=BundleBasedDirectRunner(), options=options)

