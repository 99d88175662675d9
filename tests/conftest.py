"""Services the tests start themselves, once per session, on free loopback ports, and stop at the end;
and the direct runner's TestStream made lean for the session (`tests/lean_direct.py`)."""
import pytest

from kappa.services.flink_cluster import FlinkCluster
from kappa.services.job_server import FlinkJobServer
from kappa.services.kafka_broker import KafkaBroker
from kappa.services.process import free_port
from tests import lean_direct

lean_direct.install()


@pytest.fixture(scope="session")
def flink_job_server(tmp_path_factory):
    """Beam's job server with an embedded Flink: each job gets a local Flink of its own."""
    with FlinkJobServer(tmp_path_factory.mktemp("job-server"), job_port=free_port()) as server:
        yield server


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    with KafkaBroker(tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port()) as broker:
        yield broker


@pytest.fixture(scope="session")
def flink_cluster(tmp_path_factory):
    """A Flink session cluster with a Beam worker pool beside its task manager."""
    with FlinkCluster(tmp_path_factory.mktemp("flink"), rest_port=free_port(), rpc_port=free_port(),
                      worker_pool_port=free_port()) as cluster:
        yield cluster
