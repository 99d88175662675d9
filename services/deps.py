"""Where the parts that `make deps` fetched live: the Flink job server's classpath, the Kafka broker's
classpath, Kafka Connect's with Debezium, OpenSearch's with its launcher, the seed's Kafka Streams
topology with its classpath, and the Flink distribution.
`KAPPA_DEPS` points elsewhere; the default is `build/deps` in the source tree of an editable install."""
import os
from pathlib import Path


class MissingDependency(RuntimeError):
    """A fetched part is absent; the message says which and how to fetch it."""


def root() -> Path:
    return Path(os.environ.get("KAPPA_DEPS") or Path(__file__).resolve().parents[1] / "build" / "deps")


def _present(path: Path, what: str) -> Path:
    if not path.exists():
        raise MissingDependency(f"{what} not found at {path}: run `make deps` (or set KAPPA_DEPS)")
    return path


def job_server_jar() -> Path:
    """The launcher jar of Beam's Flink job server (its manifest names the copied classpath, after the
    patch that keeps Beam's gRPC servers on loopback: `kappa.services.grpc_loopback`)."""
    _present(root() / "flink-job-server" / "grpc-loopback.jar", "the job server's loopback patch")
    return _present(root() / "flink-job-server" / "job-server.jar", "the Beam Flink job server")


def kafka_classpath() -> str:
    return str(_present(root() / "kafka-broker" / "lib", "the Kafka broker") / "*")


def kafka_connect_classpath() -> str:
    """Kafka Connect (the broker's Kafka version) with Debezium's PostgreSQL connector."""
    return str(_present(root() / "kafka-connect" / "lib", "Kafka Connect and Debezium") / "*")


def _compiled_and_libraries(folder: str, jar: str, compiled: str, libraries: str) -> str:
    """The classpath of code of the project's that `make deps` compiled, then the libraries it runs on."""
    found = _present(root() / folder / jar, compiled)
    return f"{found}:{_present(root() / folder / 'lib', libraries)}/*"


def opensearch_classpath() -> str:
    """OpenSearch's jars and the project's launcher (services/opensearch/)."""
    return _compiled_and_libraries("opensearch", "launcher.jar", "the OpenSearch launcher", "OpenSearch")


def kafka_streams_classpath() -> str:
    """The seed's topology (benchmarks/kstreams/) and Kafka Streams' libraries."""
    return _compiled_and_libraries("kafka-streams", "orders-per-minute.jar", "the Kafka Streams topology",
                                   "the Kafka Streams libraries")


def flink_home() -> Path:
    return _present(root() / "flink" / "pyflink", "the Flink distribution")
