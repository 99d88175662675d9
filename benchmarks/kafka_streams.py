"""The seed's Kafka Streams topology (benchmarks/kstreams/) as the streaming peer of `make bench`.

    python -m kappa.benchmarks.kafka_streams --archive 'build/bench/archives/orders-1000000/*.avro' \
        --workdir build/bench/kafka-streams [--result FILE]

The same backlog as kappa-flink-stream's: a broker on free loopback ports, the archive produced into
a 4-partition `orders` topic by the demo's code before the job starts. The topology then runs
until its consumer group has committed everything, on the orders topic and on its repartition
topic (records/s from its start and from its first commit, as the demo measures kappa), and is
stopped; its output topic's latest count per window is compared with the archive's.

What is compared: the seed's `count()` counts records, so a redelivered order counts twice. It is
judged against a plain-Python count of the records in each window, redeliveries included: what its
own job would give with nothing dropped. Dedup would be a different topology than the seed's,
and it would not change what the comparison shows, the records dropped as late while it catches up.
kappa counts distinct order ids; that is reported beside it (windows equal to kappa's counts).
"""
import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from kappa.io import kafka
from kappa.runners import demo
from kappa.services import deps, process
from kappa.services.kafka_broker import KafkaBroker

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "order"
MAIN_CLASS = "kappa.kstreams.OrdersPerMinute"


@dataclasses.dataclass
class KafkaStreamsPeer(process.Service):
    """The topology in a JVM of its own. It opens no listening socket (no interactive queries, no JMX
    port): it is a Kafka client on the broker's loopback address. At-least-once, Kafka Streams'
    default; a commit every `commit_interval_ms` (Kafka Streams' default is 30 s) so that the lag
    the driver watches moves as the job reads."""

    name = "Kafka Streams peer"
    stem = "kstreams"

    workdir: Path
    bootstrap_servers: str
    input_topic: str = "orders"
    output_topic: str = "orders-per-minute-kstreams"
    application_id: str = "orders-per-minute-kstreams"
    threads: int = 2
    commit_interval_ms: int = 1_000
    heap: str = "1g"

    @property
    def repartition_topic(self) -> str:
        """Where `groupBy(region)` sends records to the windowed count (`Grouped.with("by-region")`)."""
        return f"{self.application_id}-by-region-repartition"

    @property
    def summary_file(self) -> Path:
        return self.workdir / "summary.json"

    def properties(self) -> str:
        config = {
            "application.id": self.application_id,
            "bootstrap.servers": self.bootstrap_servers,
            "state.dir": self.workdir / "state",
            "num.stream.threads": self.threads,
            "processing.guarantee": "at_least_once",
            "commit.interval.ms": self.commit_interval_ms,
            "kappa.input.topic": self.input_topic,
            "kappa.output.topic": self.output_topic,
            "kappa.schemas.dir": SCHEMAS,
            "kappa.summary.file": self.summary_file,
        }
        return "".join(f"{key}={value}\n" for key, value in config.items())

    def start(self) -> "KafkaStreamsPeer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.summary_file.unlink(missing_ok=True)
        properties = self.workdir / "peer.properties"
        properties.write_text(self.properties())
        peer = process.start(["java", f"-Xmx{self.heap}", "-cp", deps.kafka_streams_classpath(), MAIN_CLASS,
                              str(properties)], self.log, self.pid_file)
        try:
            process.wait_until(lambda: "kafka streams: RUNNING" in self.log.read_text(), "Kafka Streams peer",
                               60, self.log, peer)
        except process.ServiceError:
            self.stop()
            raise
        return self

    def summary(self) -> Dict[str, Any]:
        """What the topology wrote when stopped: malformed values skipped, records dropped as late."""
        return json.loads(self.summary_file.read_text())

    def describe(self) -> str:
        return f"application {self.application_id} on {self.bootstrap_servers} (log: {self.log})"


def latest_counts(bootstrap_servers: str, topic: str) -> Dict[str, int]:
    """The last value of every key of the output topic: a window's count once its updates are in."""
    return {record.key.decode(): int(record.value) for record in kafka.consume(bootstrap_servers, topic, idle_s=1.5)}


def compare(counts: Dict[str, int], ids: Dict[str, List[str]], summary: Dict[str, Any]) -> Dict[str, Any]:
    """The peer's counts against the records of each window (exact) and kappa's distinct counts."""
    records = {window: len(window_ids) for window, window_ids in ids.items()}
    distinct = {window: len(set(window_ids)) for window, window_ids in ids.items()}
    return {
        "windows_total": len(records),
        "windows_exact": sum(counts.get(window) == n for window, n in records.items()),
        "windows_missing": sum(window not in counts for window in records),
        "windows_equal_to_kappa": sum(counts.get(window) == n for window, n in distinct.items()),
        "records_valid": sum(records.values()),
        "records_counted": sum(counts.values()),
        "dropped_late_by_difference": sum(records.values()) - sum(counts.values()),
        "dropped_late": summary["dropped_late"],
        "malformed": summary["malformed"],
    }


def count_backlog(broker: KafkaBroker, peer: KafkaStreamsPeer, records: List[Tuple[Optional[bytes], bytes]],
                  partitions: int) -> Tuple[Dict[str, float], Dict[str, int], Dict[str, Any]]:
    """`records` produced into a new input topic of `partitions` before the peer starts, read by it
    until its group's lag is 0, and the peer stopped: the throughput figures, its latest count per
    window, its summary."""
    for topic in (peer.input_topic, peer.output_topic):
        kafka.create_topic(broker.bootstrap_servers, topic, partitions)
    kafka.produce(broker.bootstrap_servers, peer.input_topic, records)
    with peer:
        figures = demo.drain(broker, len(records), [peer.input_topic, peer.repartition_topic], peer.application_id)
    if figures["lag_left"]:
        raise RuntimeError(f"the Kafka Streams peer left {figures['lag_left']:,} records unread")
    return figures, latest_counts(broker.bootstrap_servers, peer.output_topic), peer.summary()


def run_backlog(archive: str, workdir: Path, threads: int = 2, partitions: int = 4) -> Dict[str, Any]:
    """The archive as a backlog in Kafka, read by the topology to lag 0; the figures and the counts."""
    records = demo.archive_records(archive)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    broker = KafkaBroker(scratch / "kafka", port=process.free_port(), controller_port=process.free_port())
    with broker:
        peer = KafkaStreamsPeer(scratch / "kstreams", broker.bootstrap_servers, threads=threads)
        figures, counts, summary = count_backlog(broker, peer, records, partitions)
    figures.update(compare(counts, demo.window_ids(records), summary), records=len(records), counts=counts)
    return figures


def report(figures: Dict[str, Any]) -> str:
    return (f"kafka-streams (the seed's topology, {figures['records']:,} records of backlog): "
            f"{figures['throughput_per_s']:,.0f} records/s from its start to lag 0, "
            f"{figures['sustained_per_s']:,.0f} records/s from its first commit ({figures['first_commit_s']:.1f} s in); "
            f"{figures['windows_exact']:,} of {figures['windows_total']:,} windows exact "
            f"({figures['windows_missing']:,} with no result; {figures['windows_equal_to_kappa']:,} equal to kappa's "
            f"distinct counts); {figures['dropped_late']:,} records dropped as late (Kafka Streams' "
            f"dropped-records-total; {figures['dropped_late_by_difference']:,} by difference), "
            f"{figures['malformed']:,} malformed")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="kappa.benchmarks.kafka_streams", description=__doc__.splitlines()[0])
    parser.add_argument("--archive", required=True, help="the archive files (a file, folder or glob)")
    parser.add_argument("--workdir", type=Path, default=Path("build/bench/kafka-streams"))
    parser.add_argument("--threads", type=int, default=2, help="Kafka Streams' num.stream.threads")
    parser.add_argument("--result", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    figures = run_backlog(args.archive, args.workdir, args.threads)
    print(report(figures))
    print(f"(whole run, broker start and produce included: {time.monotonic() - started:.0f} s)")
    if args.result:
        args.result.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
