"""Every socket kappa's services listen on is bound to loopback: the Kafka broker and the Flink session
cluster of `make kafka-up` / `make flink-up` (the same classes as the fixtures), with a job running so
the task manager's Beam servers and the worker pool's workers are up, and a `kappa run --runner flink`
job on the embedded Flink (job server, embedded Flink, the Python stages' worker pool in kappa)."""
import signal
import subprocess
import time

import pytest

from kappa.runners import cli
from tests import sockets
from tests.test_streaming import cluster, kappa_stream, produce, records, topics


@pytest.fixture()
def names(kafka_broker, tmp_path) -> dict:
    """Topics of their own, the input holding a small archive."""
    names = topics()
    assert cli.main(["generate", "orders", "--output", str(tmp_path / "in"), "--format", "jsonl", "--events", "300",
                     "--hours", "1", "--seed", "5", "--malformed", "0"]) == 0
    produce(kafka_broker, names["orders"], tmp_path / "in")
    return names


def await_results(broker, topic: str, job: subprocess.Popen = None, timeout_s: float = 240) -> None:
    """Until the job has written results: then every part of it is up."""
    deadline = time.monotonic() + timeout_s
    while not records(broker, topic):
        assert job is None or job.poll() is None, f"the job ended with status {job.returncode}"
        assert time.monotonic() < deadline, f"no results in {topic} after {timeout_s:.0f}s"
        time.sleep(2)


def outside_loopback(found: list) -> list:
    return [s for s in found if not sockets.is_loopback(s[1])]


def test_broker_and_session_cluster_listen_on_loopback_only(kafka_broker, flink_cluster, names):
    job_name = f"loopback-{names['orders']}"
    submitted = subprocess.run(kappa_stream(kafka_broker, names, "--idle-timeout", "3s", *cluster(flink_cluster),
                                            "--job-name", job_name), capture_output=True, text=True)
    assert submitted.returncode == 0, submitted.stderr[-2000:]
    running = flink_cluster.rest.running_job(job_name)
    try:
        await_results(kafka_broker, names["results"])
        found = sockets.listening(kafka_broker.pids() + flink_cluster.pids())
    finally:
        flink_cluster.rest.cancel(running["jid"])
    ports = {port for _, _, port, _ in found}
    assert {kafka_broker.port, kafka_broker.controller_port, flink_cluster.rest_port, flink_cluster.rpc_port,
            flink_cluster.worker_pool_port} <= ports
    assert outside_loopback(found) == []


def test_a_job_on_the_embedded_flink_listens_on_loopback_only(kafka_broker, names):
    job = subprocess.Popen(kappa_stream(kafka_broker, names, "--idle-timeout", "3s"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await_results(kafka_broker, names["results"], job)
        found = sockets.listening([job.pid])
    finally:
        job.send_signal(signal.SIGINT)
        job.wait(timeout=60)
    assert {pid for pid, *_ in found} - {job.pid}, "no socket of the job server's"
    assert job.pid in {pid for pid, *_ in found}, "no socket of the worker pool in kappa's process"
    assert outside_loopback(found) == []
