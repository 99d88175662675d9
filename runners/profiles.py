"""Runner profiles: how a `--runner` name becomes a Beam runner and its options for a mode.

The stock `DirectRunner` first tries to download the "prism" runner from GitHub, which an offline
machine cannot do; kappa therefore names the runner it means, so every run is deterministic:
- batch (backfill) runs on the `FnApiRunner`, Beam's portable runner with combiner lifting and fused
  stages: in this process, or in one worker process per core when the job has that many independent
  inputs to spread (worker processes take about a second to start, so a small job stays in-process);
- replay plays its windowed grouping in this process on Beam's own trigger driver, as Beam's
  direct runner would run it step by step (`kappa.runners.replay_panes`), and the rest of the
  pipeline, from the panes on, on the `FnApiRunner` in this process; a pipeline whose grouping cannot
  be played so (several inputs, keyed state) plays its stream as a TestStream, which only Beam's
  `BundleBasedDirectRunner` runs (the FnApiRunner refuses `beam:transform:teststream:v1`).
"""
from __future__ import annotations

import enum
import os
import shlex
import sys
from typing import List, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.portability import python_urns
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.portability.fn_api_runner.worker_handlers import (BeamFnControlServicer,
                                                                           SubprocessSdkWorkerHandler, WorkerHandler)
from apache_beam.runners.runner import PipelineRunner
from apache_beam.testing.test_stream import TestStream, WatermarkEvent
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp

from kappa.runners import data_plane_fix

# A Ctrl-C reaches the whole process group. A worker process ignores it from its start (an ignored
# signal stays ignored across exec), so none prints a traceback; the CLI's main thread is interrupted,
# and the runner, shutting down, tells each worker to stop.
WORKER_COMMAND = f"trap '' INT; exec {shlex.quote(sys.executable)} -m kappa.runners.sdk_worker"
WORKER_ENVIRONMENT = "kappa:environment:worker_process:v1"


class Mode(enum.Enum):
    BATCH = "batch"  # an archive, read as a bounded source
    REPLAY = "replay"  # an archive, played as a stream with watermarks
    STREAM = "stream"  # a live source (Kafka) until the job is stopped


class RunnerProfile:
    """Turns a mode into a ready `beam.Pipeline`; one subclass per runner family."""

    name: str
    replays_in_process = False  # replay's grouping played by `replay_panes`, not a TestStream on the runner
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
    replays_in_process = True

    def __init__(self, workers: Optional[int] = None):
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        self.workers = workers or os.cpu_count() or 1

    def pipeline(self, mode: Mode, parallel_inputs: int = 1) -> beam.Pipeline:
        workers = min(self.workers, parallel_inputs) if mode is Mode.BATCH else 1
        if workers > 1:
            options = PipelineOptions(direct_num_workers=workers, direct_running_mode="multi_processing")
            return beam.Pipeline(runner=_WorkerProcessRunner(), options=options)
        if mode is Mode.REPLAY:
            return beam.Pipeline(runner=_ReplayRunner(), options=PipelineOptions())
        return beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions())


class _ReplayRunner(PipelineRunner):
    """The FnApiRunner, unless the pipeline plays a TestStream: then Beam's BundleBasedDirectRunner,
    streaming, with the stream's watermark first stopped just before the end of the global window.

    That runner holds no watermark for user timers (`kappa.transforms.keyed_state`): when the stream's
    watermark jumps to infinity, the outputs of the timers it fires reach the groupings downstream
    (the output files' and the tally's) after those have closed, and are dropped. At a watermark
    past every timer but before the global window ends, the last timers fire and their outputs arrive
    while the groupings are still open; then the watermark goes on to infinity."""

    def run_pipeline(self, pipeline, options):
        streams = _test_streams(pipeline)
        if not streams:
            return FnApiRunner().run_pipeline(pipeline, options)
        for stream in streams:
            _stop_before_the_end(stream)
        options.view_as(StandardOptions).streaming = True
        return BundleBasedDirectRunner().run_pipeline(pipeline, options)


def _test_streams(pipeline: beam.Pipeline) -> List[TestStream]:
    class Finder(beam.pipeline.PipelineVisitor):
        def __init__(self) -> None:
            self.found: List[TestStream] = []

        def visit_transform(self, applied) -> None:
            if isinstance(applied.transform, TestStream):
                self.found.append(applied.transform)

    finder = Finder()
    pipeline.visit(finder)
    return finder.found


def _stop_before_the_end(stream: TestStream) -> None:
    events = stream._events  # TestStream keeps its events private; they are what it plays, in order
    before_the_end = Timestamp(micros=GlobalWindow().max_timestamp().micros - 1000)
    if events and isinstance(events[-1], WatermarkEvent) and events[-1].new_watermark > before_the_end:
        events.insert(len(events) - 1, WatermarkEvent(before_the_end))


class _WorkerProcessRunner(FnApiRunner):
    """The FnApiRunner with worker processes started by WORKER_COMMAND, handled by `_WorkerProcess`."""

    def run_via_runner_api(self, pipeline_proto, options):
        data_plane_fix.install()
        for environment in pipeline_proto.components.environments.values():
            if environment.urn == python_urns.SUBPROCESS_SDK:
                environment.urn = WORKER_ENVIRONMENT
                environment.payload = WORKER_COMMAND.encode()
        return super().run_via_runner_api(pipeline_proto, options)


@WorkerHandler.register_environment(WORKER_ENVIRONMENT, bytes)
class _WorkerProcess(SubprocessSdkWorkerHandler):
    """Beam's worker process handler, which also stops a worker that has not connected yet.

    Beam's handler, closing, sends its worker the end of work only once the worker has connected; one
    still starting (a run interrupted in its first seconds) would connect afterwards and wait for work
    forever, and the runner for it. The end of work queued here reaches it whenever it connects.
    """

    def close(self) -> None:
        self.control_conn.push(BeamFnControlServicer._DONE_MARKER)
        super().close()
