"""Services the tests start themselves, once per session, on free loopback ports, and stop at the end;
and the direct runner's TestStream made lean for the session (`tests/lean_direct.py`)."""
import shutil
import tempfile
from pathlib import Path

import pytest

from kappa.services.flink_cluster import FlinkCluster
from kappa.services.job_server import FlinkJobServer
from kappa.services.kafka_broker import KafkaBroker
from kappa.services.opensearch_node import OpenSearchNode
from kappa.services.postgres import Postgres
from kappa.services.redis_server import RedisServer
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


def postgres_folder() -> Path:
    """A folder the `postgres` user can reach (pytest's own are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="kappa-postgres-"))
    folder.chmod(0o711)
    return folder


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL cluster of kappa's own (`kappa.services.postgres`), ready for logical decoding."""
    folder = postgres_folder()
    try:
        with Postgres(folder, port=free_port()) as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A Redis server (`kappa.services.redis_server`), nothing on disk."""
    with RedisServer(tmp_path_factory.mktemp("redis"), port=free_port()) as server:
        yield server


@pytest.fixture(scope="session")
def opensearch(tmp_path_factory):
    """A single-node OpenSearch (`kappa.services.opensearch_node`)."""
    with OpenSearchNode(tmp_path_factory.mktemp("opensearch"), http_port=free_port(),
                        transport_port=free_port()) as node:
        yield node
