"""The broker keeps its data across a restart, a crash included, unless told to start fresh."""
import os
import signal

from confluent_kafka.admin import AdminClient

from kappa.io import kafka
from kappa.services import process
from kappa.services.kafka_broker import KafkaBroker

RECORDS = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(20)]


def kept(broker: KafkaBroker) -> list:
    return sorted((r.key, r.value) for r in kafka.consume(broker.bootstrap_servers, "kept", idle_s=1))


def crash(broker: KafkaBroker) -> None:
    """kill -9: the pid file stays behind, as after a real crash."""
    [pid] = broker.pids()
    os.killpg(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)  # this process started it: reap it, as init would
    except ChildProcessError:  # reaped already
        pass
    assert broker.pid_file.exists() and not process.running(broker.pid_file)


def test_a_broker_restarted_on_its_data_still_has_a_topics_records(tmp_path):
    broker = KafkaBroker(tmp_path / "kafka", port=process.free_port(), controller_port=process.free_port())
    with broker:
        kafka.create_topic(broker.bootstrap_servers, "kept", 2)
        assert kafka.produce(broker.bootstrap_servers, "kept", RECORDS) == len(RECORDS)
        crash(broker)
        broker.start()
        assert kept(broker) == sorted(RECORDS)
    fresh = KafkaBroker(broker.workdir, port=broker.port, controller_port=broker.controller_port, fresh=True)
    with fresh:
        assert topics(fresh) == set()


def topics(broker: KafkaBroker) -> set:
    """Every topic but Kafka's own (a metadata request for all topics creates none)."""
    listed = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(timeout=10).topics
    return {name for name in listed if not name.startswith("__")}
