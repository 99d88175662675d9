"""A single-node Apache Kafka broker in KRaft mode on loopback, from the jars `make deps` copied.

    python -m kappa.services.kafka_broker up|down [--dir build/kafka] [--port 9092]

Each start formats a fresh log directory: the broker is for demos and tests, not for keeping data.
Topics default to 4 partitions, so per-partition watermarks and idle partitions are exercised.
"""
import argparse
import base64
import dataclasses
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import List, Optional

from kappa.services import deps, process

PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.partitions={partitions}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
"""


@dataclasses.dataclass
class KafkaBroker(process.Service):
    name = "Kafka broker"
    stem = "broker"

    workdir: Path
    port: int = 9092
    controller_port: int = 9093
    partitions: int = 4
    heap: str = "512m"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, main_class: str, *args: str) -> List[str]:
        return ["java", f"-Xmx{self.heap}", "-cp", deps.kafka_classpath(), main_class, *args]

    def start(self) -> "KafkaBroker":
        if self.pid_file.exists():
            raise process.ServiceError(f"a broker already runs from {self.workdir} (stop it first)")
        for port in (self.port, self.controller_port):
            if process.port_open(port):
                raise process.ServiceError(f"port {port} is already in use")
        data = self.workdir / "data"
        shutil.rmtree(data, ignore_errors=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        properties = self.workdir / "server.properties"
        properties.write_text(PROPERTIES.format(port=self.port, controller_port=self.controller_port,
                                                data=data, partitions=self.partitions))
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # `=` form: a base64 id may start with "-", which would read as an option (Kafka's own ids avoid it).
        formatted = subprocess.run(self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                                              "-c", str(properties)), capture_output=True, text=True)
        if formatted.returncode != 0:
            raise process.ServiceError(f"formatting {data} failed: {formatted.stderr.strip()[-500:]}")
        broker = process.start(self._java("kafka.Kafka", str(properties)), self.log, self.pid_file)
        process.wait_until(self._ready, f"Kafka broker on {self.bootstrap_servers}", 60, self.log, broker)
        return self

    def _ready(self) -> bool:
        from confluent_kafka.admin import AdminClient
        if not process.port_open(self.port):  # before that, librdkafka logs every refused connection
            return False
        AdminClient({"bootstrap.servers": self.bootstrap_servers}).list_topics(timeout=2)
        return True

    def describe(self) -> str:
        return f"{self.bootstrap_servers} (log: {self.log})"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="kafka_broker", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=Path("build/kafka"))
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--controller-port", type=int, default=9093)
    args = parser.parse_args(argv)
    return process.up_or_down(KafkaBroker(args.dir, args.port, args.controller_port), args.action,
                              (deps.MissingDependency,))


if __name__ == "__main__":
    sys.exit(main())
