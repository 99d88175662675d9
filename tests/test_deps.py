"""The pinned versions that must agree across files: Beam in setup.py and the job server's pom, Flink in
the job server's pom and the Makefile's distribution, the Makefile's Flink among Beam's supported ones,
the Flink and Kafka versions `kappa --version` reports, and the Kafka Streams peer and Kafka Connect on
the broker's Kafka."""
import re
from pathlib import Path

from apache_beam.options.pipeline_options import FlinkRunnerOptions

from kappa.runners import versions

ROOT = Path(__file__).resolve().parents[1]


def _pom_property(name: str) -> str:
    return re.search(rf"<{name}>([^<]+)</{name}>", (ROOT / "deps/flink-job-server/pom.xml").read_text()).group(1)


def test_job_server_beam_equals_the_sdk():
    assert f"apache-beam[gcp]=={_pom_property('beam.version')}" in (ROOT / "setup.py").read_text()


def test_flink_distribution_equals_the_job_servers_flink():
    makefile = re.search(r"^FLINK_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert makefile == _pom_property("flink.version")
    assert ".".join(makefile.split(".")[:2]) in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS


def _dependency_version(pom: str, artifact: str) -> str:
    text = (ROOT / "deps" / pom / "pom.xml").read_text()
    return re.search(rf"<artifactId>{re.escape(artifact)}</artifactId>\s*<version>([^<]+)</version>", text).group(1)


def test_kappa_reports_the_versions_it_pins():
    kafka = _dependency_version("kafka-broker", "kafka_2.13")
    assert (versions.FLINK_VERSION, versions.KAFKA_VERSION) == (_pom_property("flink.version"), kafka)


def test_the_kafka_streams_peer_is_the_brokers_kafka():
    assert _dependency_version("kafka-streams", "kafka-streams") == _dependency_version("kafka-broker", "kafka_2.13")


def test_kafka_connect_is_the_brokers_kafka():
    broker = _dependency_version("kafka-broker", "kafka_2.13")
    assert [_dependency_version("kafka-connect", artifact) for artifact in
            ("connect-runtime", "connect-json", "connect-transforms")] == [broker] * 3
