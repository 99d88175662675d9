"""A single-node Apache Kafka broker in KRaft mode on loopback, from the jars `make deps` copied.

    python -m kappa.services.kafka_broker up|down [--dir build/kafka] [--port 9092] [--controller-port 9093]
                                                  [--fresh]

A start keeps the data folder (`<dir>/data`) of the broker before it, so a broker restarted after a
crash or a `down` serves the topics and records it had; `--fresh` (and a first start) formats an empty
one. Topics default to 4 partitions, so per-partition watermarks and idle partitions are exercised.
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
    fresh: bool = False  # format an empty data folder even if one is there

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, main_class: str, *args: str) -> List[str]:
        return ["java", f"-Xmx{self.heap}", "-cp", deps.kafka_classpath(), main_class, *args]

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    def start(self) -> "KafkaBroker":
        if process.running(self.pid_file):
            raise process.ServiceError(f"a broker already runs from {self.workdir} (stop it first)")
        for port in (self.port, self.controller_port):
            if process.port_open(port):
                raise process.ServiceError(f"port {port} is already in use")
        self.workdir.mkdir(parents=True, exist_ok=True)
        properties = self.workdir / "server.properties"
        properties.write_text(PROPERTIES.format(port=self.port, controller_port=self.controller_port,
                                                data=self.data, partitions=self.partitions))
        if self.fresh or not (self.data / "meta.properties").exists():
            self._format(properties)
        broker = process.start(self._java("kafka.Kafka", str(properties)), self.log, self.pid_file)
        process.wait_until(self._ready, f"Kafka broker on {self.bootstrap_servers}", 60, self.log, broker)
        return self

    def _format(self, properties: Path) -> None:
        shutil.rmtree(self.data, ignore_errors=True)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # `=` form: a base64 id may start with "-", which would read as an option (Kafka's own ids avoid it).
        formatted = subprocess.run(self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                                              "-c", str(properties)), capture_output=True, text=True)
        if formatted.returncode != 0:
            raise process.ServiceError(f"formatting {self.data} failed: {formatted.stderr.strip()[-500:]}")

    def _ready(self) -> bool:
        from confluent_kafka.admin import AdminClient
        if not process.port_open(self.port):  # before that, librdkafka logs every refused connection
            return False
        AdminClient({"bootstrap.servers": self.bootstrap_servers}).list_topics(timeout=2)
        return True

    def describe(self) -> str:
        return f"{self.bootstrap_servers} (log: {self.log})"


def main(argv: Optional[List[str]] = None) -> int:
    defaults = KafkaBroker(Path("build/kafka"))
    parser = argparse.ArgumentParser(prog="kafka_broker", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=defaults.workdir,
                        help="configuration, log, pid file and the data folder (default: %(default)s)")
    parser.add_argument("--port", type=int, default=defaults.port, help="the broker's listener (default: %(default)s)")
    parser.add_argument("--controller-port", type=int, default=defaults.controller_port,
                        help="the KRaft controller's listener (default: %(default)s)")
    parser.add_argument("--fresh", action="store_true",
                        help="up: start with an empty data folder (default: keep the one there)")
    args = parser.parse_args(argv)
    broker = KafkaBroker(args.dir, args.port, args.controller_port, fresh=args.fresh)
    return process.up_or_down(broker, args.action, (deps.MissingDependency,))


if __name__ == "__main__":
    sys.exit(main())
