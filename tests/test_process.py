"""What a service start says when it fails: the end of the log that explains it."""
import pytest

from kappa.services import flink_cluster, process


def test_a_failed_wait_shows_a_log_written_after_the_wait_began(tmp_path):
    """Flink names its log file itself once it runs: the log is looked up at failure, not at the start."""
    folder = tmp_path / "log"
    folder.mkdir()

    def not_ready() -> bool:
        (folder / "flink-standalonesession-0.log").write_text("starting\nBindException: Address already in use\n")
        return False

    with pytest.raises(process.ServiceError) as failed:
        process.wait_until(not_ready, "Flink REST", 0.2, lambda: flink_cluster._newest(folder, "*standalonesession*.log"))
    assert str(failed.value).endswith("flink-standalonesession-0.log:\nstarting\nBindException: Address already in use")
