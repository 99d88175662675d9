"""The options kappa hands Beam's Flink job server: Beam's Python SDK drops undeclared ones silently."""
from kappa.runners.flink import Checkpointing, FlinkOptions, FlinkProfile, FlinkSettings
from kappa.runners.profiles import Mode
from kappa.services import worker_pool
from kappa.services.flink_cluster import LOOPBACK_CONF_DIR


def flink_options(mode: Mode, **settings) -> dict:
    return FlinkProfile(FlinkSettings(**settings)).options(mode).view_as(FlinkOptions).get_all_options(
        drop_default=True)


def test_streaming_finishes_bundles_before_checkpoints():
    """Else a checkpoint buffers a bundle's output while the watermark moves on (docs/design.md)."""
    options = flink_options(Mode.STREAM, checkpoint_interval_ms=1_000, checkpointing=Checkpointing.AT_LEAST_ONCE)
    assert options["finish_bundle_before_checkpointing"] is True
    assert options["checkpointing_interval"] == 1_000
    assert options["checkpointing_mode"] == "AT_LEAST_ONCE"


def test_streaming_bundles_close_after_20ms():
    """The source's next read waits for the bundle to close (docs/benchmarks.md)."""
    assert flink_options(Mode.STREAM)["max_bundle_time_mills"] == 20
    assert "max_bundle_time_mills" not in flink_options(Mode.BATCH)


def test_batch_has_no_checkpoint_options():
    options = flink_options(Mode.BATCH)
    assert "finish_bundle_before_checkpointing" not in options
    assert "checkpointing_interval" not in options


def test_a_session_cluster_gets_one_python_worker_per_slot():
    """Beam starts one per task manager by default: every slot's Python work then shares one core."""
    options = flink_options(Mode.STREAM, master="localhost:8081", parallelism=2)
    assert options["sdk_worker_parallelism"] == "2"  # Beam declares it without a type: it stays text
    assert options["environment_type"] == "EXTERNAL"


def test_the_embedded_flink_and_its_python_stages_stay_on_loopback():
    """Beam's LOOPBACK pool listens on every interface: kappa's own, in this process, on loopback."""
    options = flink_options(Mode.STREAM)
    assert (options["environment_type"], options["environment_config"]) == ("EXTERNAL", worker_pool.in_process()[0])
    assert options["environment_config"].startswith("localhost:")
    assert options["flink_conf_dir"] == str(LOOPBACK_CONF_DIR)
