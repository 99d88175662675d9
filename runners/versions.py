"""What `kappa --version` reports: kappa's and Beam's installed versions, and the Flink and Kafka that
kappa pins for the JVM side.

Flink and Kafka are pinned in `deps/flink-job-server/pom.xml` (`flink.version`), the Makefile's
FLINK_VERSION and `deps/kafka-broker/pom.xml`; an installed kappa carries none of those files, so the
versions are repeated here and tests/test_deps.py keeps them equal.
"""
import importlib.metadata
import platform

import apache_beam

FLINK_VERSION = "1.19.0"
KAFKA_VERSION = "4.1.1"


def describe() -> str:
    return "\n".join([
        f"kappa {importlib.metadata.version('kappa')}",
        f"Apache Beam {apache_beam.__version__} (Python SDK; the Flink job server is the same release)",
        f"Apache Flink {FLINK_VERSION} (Beam's Flink runner, the embedded Flink and the session cluster)",
        f"Apache Kafka {KAFKA_VERSION} (the broker that `make kafka-up` starts)",
        f"Python {platform.python_version()}",
    ])
