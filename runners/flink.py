"""The Flink runner profile: Beam's portable FlinkRunner, on an embedded Flink or a session cluster.

- `--flink-master [local]` (default): the job server starts an embedded Flink for the job, and the
  Python stages run in this process, as with Beam's LOOPBACK environment but from a worker pool of
  kappa's own on loopback (Beam's listens on every interface). Nothing to set up beyond `make deps`.
- `--flink-master HOST:PORT`: a Flink session cluster (`make flink-up`). The Python stages run in the
  Beam worker pool beside the task manager (EXTERNAL), as they would on a production cluster; a
  streaming job is submitted detached and keeps running after `kappa run` returns.

The job server is `make deps`' launcher jar, passed by path, so nothing is downloaded at run time.
"""
import dataclasses
import enum
import time
from typing import List, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineState

from kappa.runners.profiles import Mode, RunnerProfile
from kappa.services import deps, worker_pool
from kappa.services.flink_cluster import LOOPBACK_CONF_DIR, FlinkRest

LOCAL = "[local]"
# A stage's watermark moves when its bundle finishes, and the source's next read waits for it: the
# runner's streaming default of 1,000 ms left the Python worker idle half the time. With 20 ms the
# Kafka -> Flink -> Kafka backlog rate went from 38,781 to 62,407 records/s (docs/benchmarks.md).
STREAM_BUNDLE_TIME_MS = 20


class Checkpointing(enum.Enum):
    EXACTLY_ONCE = "exactly-once"  # aligned barriers: state reflects each record once after a restore
    AT_LEAST_ONCE = "at-least-once"  # no alignment: lower latency under backpressure, replays on restore


class StateBackend(enum.Enum):
    HASHMAP = "hashmap"  # state on the JVM heap: fastest while it fits
    ROCKSDB = "rocksdb"  # state on local disk: for state larger than memory


class FlinkOptions(PipelineOptions):
    """Options of Beam's Java FlinkRunner that Beam's Python SDK does not declare. The Python FlinkRunner
    sends only declared options to the job server, so declaring them is what makes them reach Flink."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument("--checkpointing_interval", type=int, help="milliseconds between checkpoints")
        parser.add_argument("--checkpointing_mode", choices=["EXACTLY_ONCE", "AT_LEAST_ONCE"])
        parser.add_argument("--state_backend", choices=["hashmap", "rocksdb"])
        parser.add_argument("--state_backend_storage_path", help="checkpoint storage URI")
        parser.add_argument("--savepoint_path", help="savepoint to restore the job's state from")
        parser.add_argument("--max_bundle_size", type=int, help="the TestStream scenarios run with 1")
        parser.add_argument("--max_bundle_time_mills", type=int, help="how long a bundle may stay open")
        parser.add_argument("--finish_bundle_before_checkpointing", type=bool)
        parser.add_argument("--attached_mode", type=bool)
        parser.add_argument("--externalized_checkpoints_enabled", type=bool)
        parser.add_argument("--retain_externalized_checkpoints_on_cancellation", type=bool)
        parser.add_argument("--flink_conf_dir", help="the embedded Flink's configuration folder")


@dataclasses.dataclass(frozen=True)
class FlinkSettings:
    master: str = LOCAL
    parallelism: int = 2
    worker_pool: str = "localhost:50000"  # the Beam worker pool of a session cluster
    checkpoint_interval_ms: Optional[int] = None  # None: no periodic checkpoints
    checkpointing: Checkpointing = Checkpointing.EXACTLY_ONCE
    state_backend: StateBackend = StateBackend.HASHMAP
    checkpoint_dir: Optional[str] = None  # a URI; None: Flink's default (the cluster's state.checkpoints.dir)
    from_savepoint: Optional[str] = None
    job_name: Optional[str] = None

    @property
    def embedded(self) -> bool:
        return self.master == LOCAL


class FlinkProfile(RunnerProfile):
    name = "flink"

    def __init__(self, settings: FlinkSettings = FlinkSettings()):
        self.settings = settings

    @property
    def detaches(self) -> bool:
        """A streaming job on a cluster outlives `kappa run`; an embedded one lives in it."""
        return not self.settings.embedded

    @property
    def job_name(self) -> Optional[str]:
        return self.settings.job_name

    def await_running(self, result, timeout_s: float = 180.0) -> str:
        """The job server reports RUNNING before it has handed the job to Flink, and stops with this
        process; so wait until the cluster itself lists the job as running."""
        rest = FlinkRest(self.settings.master)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if _ended(result):
                raise RuntimeError(f"job {self.job_name} ended as {result.state} before it ran on {rest.address}")
            if any(j["name"] == self.job_name and j["state"] == "RUNNING" for j in rest.jobs()):
                return "RUNNING"
            time.sleep(1)
        raise RuntimeError(f"job {self.job_name} not running on {rest.address} after {timeout_s:.0f}s")

    def options(self, mode: Mode) -> PipelineOptions:
        s = self.settings
        args: List[str] = [
            "--runner=FlinkRunner",
            f"--flink_master={s.master}",
            f"--flink_job_server_jar={deps.job_server_jar()}",
            f"--parallelism={s.parallelism}",
        ]
        if s.embedded:
            pool, _ = worker_pool.in_process()
            args += ["--environment_type=EXTERNAL", f"--environment_config={pool}"]
        else:
            # One Python worker process per slot: with Beam's default of one per task manager, every
            # slot's Python work shares one process and one core.
            args += ["--environment_type=EXTERNAL", f"--environment_config={s.worker_pool}",
                     f"--sdk_worker_parallelism={s.parallelism}"]
        if mode is not Mode.BATCH:
            args.append("--streaming")
        if s.job_name:
            args.append(f"--job_name={s.job_name}")
        options = PipelineOptions(args)
        flink = options.view_as(FlinkOptions)
        if s.checkpoint_interval_ms:
            flink.checkpointing_interval = s.checkpoint_interval_ms
            flink.checkpointing_mode = s.checkpointing.name
            flink.externalized_checkpoints_enabled = True
            flink.retain_externalized_checkpoints_on_cancellation = True
        if s.state_backend is StateBackend.ROCKSDB or s.checkpoint_dir:  # else the cluster's own settings
            flink.state_backend = s.state_backend.value
            flink.state_backend_storage_path = s.checkpoint_dir or _default_checkpoint_dir()
        flink.savepoint_path = s.from_savepoint
        if s.embedded:
            flink.flink_conf_dir = str(LOOPBACK_CONF_DIR)
        if mode is not Mode.BATCH:
            # Beam's default finishes the open bundle inside the snapshot and buffers its output into the
            # checkpoint; with a Python splittable DoFn as source that loses the source's windows (docs/design.md).
            flink.finish_bundle_before_checkpointing = True
            flink.max_bundle_time_mills = STREAM_BUNDLE_TIME_MS
        if mode is Mode.STREAM and self.detaches:
            flink.attached_mode = False
        return options

    def pipeline(self, mode: Mode, parallel_inputs: int = 1) -> beam.Pipeline:
        return beam.Pipeline(options=self.options(mode))


def _default_checkpoint_dir() -> str:
    return (deps.root().parent / "flink-checkpoints").resolve().as_uri()


def _ended(result) -> bool:
    try:
        return PipelineState.is_terminal(result.state)
    except AttributeError:  # Beam 2.62 cannot map the job server's UNSPECIFIED state of a detached job
        return False
