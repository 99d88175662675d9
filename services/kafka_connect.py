"""Kafka Connect standalone with Debezium's PostgreSQL connector: tables of kappa's PostgreSQL into Kafka.

    python -m kappa.services.kafka_connect up|down --bootstrap-servers 127.0.0.1:9092 [--postgres-dir build/postgres]
        [--postgres-port 5433] [--tables public.orders] [--topic-prefix shop] [--dir build/connect]
        [--rest-port 8083]

One connector (`pgoutput`, slot and publication of its own, `snapshot.mode=initial`): each table's rows
first as a snapshot (`op` `r`), then every committed change, to the topic `<prefix>.<schema>.<table>`,
as the JSON converter writes it without schemas; a delete is followed by a tombstone. Offsets go to a
file in `--dir`, so a restart resumes after the last change it wrote (what it wrote after its last
offset flush comes again: at least once). The database password is read through Kafka's file config
provider from a mode-600 file in `--dir`, never from a command line. The REST interface listens on
127.0.0.1. `down` stops the worker and keeps the replication slot, so that the next `up` resumes;
PostgreSQL's own `down` drops it.
"""
import argparse
import dataclasses
import json
import sys
import urllib.request
from pathlib import Path
from typing import List, Optional, Sequence

from kappa.services import deps, jvm, process
from kappa.services.postgres import DATABASE, USER, password_of

CONNECTOR = "kappa-cdc"

WORKER = """\
bootstrap.servers={bootstrap_servers}
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
offset.storage.file.filename={offsets}
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:{rest_port}
rest.advertised.host.name=127.0.0.1
rest.advertised.port={rest_port}
plugin.discovery=only_scan
config.providers=file
config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider
"""

CONNECTOR_PROPERTIES = """\
name={name}
connector.class=io.debezium.connector.postgresql.PostgresConnector
tasks.max=1
plugin.name=pgoutput
database.hostname=127.0.0.1
database.port={postgres_port}
database.user={user}
database.password=${{file:{secrets}:password}}
database.dbname={database}
topic.prefix={topic_prefix}
table.include.list={tables}
slot.name={slot}
publication.name={slot}
publication.autocreate.mode=filtered
snapshot.mode=initial
tombstones.on.delete=true
"""

@dataclasses.dataclass
class KafkaConnect(process.Service):
    name = "Kafka Connect"
    stem = "connect"

    workdir: Path
    bootstrap_servers: str
    postgres_dir: Path
    postgres_port: int = 5433
    tables: Sequence[str] = ("public.orders",)
    topic_prefix: str = "shop"
    rest_port: int = 8083
    slot: str = "kappa_cdc"
    heap: str = "512m"

    def topic(self, table: str) -> str:
        """The topic a table's changes go to (`public.orders` -> `shop.public.orders`)."""
        return f"{self.topic_prefix}.{table}"

    def start(self) -> "KafkaConnect":
        if process.running(self.pid_file):
            raise process.ServiceError(f"a Kafka Connect already runs from {self.workdir} (stop it first)")
        if process.port_open(self.rest_port):
            raise process.ServiceError(f"port {self.rest_port} is already in use")
        classpath = deps.kafka_connect_classpath()
        self.workdir.mkdir(parents=True, exist_ok=True)
        secrets = self.workdir / "secrets.properties"
        secrets.touch(mode=0o600)
        secrets.write_text(f"password={password_of(self.postgres_dir)}\n")
        worker, connector, log4j2 = (self.workdir / name for name in
                                     ("worker.properties", "connector.properties", "log4j2.properties"))
        worker.write_text(WORKER.format(bootstrap_servers=self.bootstrap_servers, rest_port=self.rest_port,
                                        offsets=self.workdir / "offsets"))
        connector.write_text(CONNECTOR_PROPERTIES.format(
            name=CONNECTOR, postgres_port=self.postgres_port, user=USER, secrets=secrets, database=DATABASE,
            topic_prefix=self.topic_prefix, tables=",".join(self.tables), slot=self.slot))
        log4j2.write_text(jvm.LOG4J2_TO_CONSOLE)
        command = ["java", f"-Xmx{self.heap}", f"-Dlog4j2.configurationFile={log4j2}", "-cp", classpath,
                   "org.apache.kafka.connect.cli.ConnectStandalone", str(worker), str(connector)]
        started = process.start(command, self.log, self.pid_file, cwd=self.workdir)
        process.wait_until(self._running, f"Kafka Connect's {CONNECTOR} connector", 120, self.log, started)
        return self

    def status(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}/connectors/{CONNECTOR}/status",
                                    timeout=2) as response:
            return json.load(response)

    def _running(self) -> bool:
        status = self.status()
        states = [status["connector"]["state"], *(task["state"] for task in status["tasks"])]
        if "FAILED" in states:
            raise process.ServiceError(f"the connector failed: {json.dumps(status)[:1500]}")
        return len(states) > 1 and set(states) == {"RUNNING"}

    def describe(self) -> str:
        topics = ", ".join(self.topic(table) for table in self.tables)
        return f"{CONNECTOR} on http://127.0.0.1:{self.rest_port}, into {topics} (log: {self.log})"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="kafka_connect", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=Path("build/connect"),
                        help="configuration, offsets, log and pid file (default: %(default)s)")
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092", help="the Kafka broker (default: %(default)s)")
    parser.add_argument("--postgres-dir", type=Path, default=Path("build/postgres"),
                        help="kappa's PostgreSQL folder, for its password file (default: %(default)s)")
    parser.add_argument("--postgres-port", type=int, default=5433, help="its port (default: %(default)s)")
    parser.add_argument("--tables", default="public.orders",
                        help="the tables to capture, comma-separated schema.table (default: %(default)s)")
    parser.add_argument("--topic-prefix", default="shop", help="topics are PREFIX.schema.table (default: %(default)s)")
    parser.add_argument("--rest-port", type=int, default=8083, help="Connect's REST port (default: %(default)s)")
    args = parser.parse_args(argv)
    connect = KafkaConnect(args.dir.resolve(), args.bootstrap_servers, args.postgres_dir.resolve(), args.postgres_port,
                           tuple(args.tables.split(",")), args.topic_prefix, args.rest_port)
    return process.up_or_down(connect, args.action, (deps.MissingDependency, OSError))


if __name__ == "__main__":
    sys.exit(main())
