"""`make run-flink`: the streaming path end to end, on this machine, and everything stopped afterwards.

Starts a Kafka broker and a Flink session cluster on free loopback ports, submits orders-per-minute to
the cluster, replays a generated archive into the `orders` topic at a steady rate, and prints each
window's result as it lands in the output topic. At the end it prints what it measured:
- with `--backlog`, the archive is in Kafka before the job starts, and throughput is the records the
  job read per second until the group's lag was 0 (from the offsets the source commits);
- otherwise, the produce rate the job kept up with (lag 0 at the end) and the latency, per window, from
  the moment the record that moved every partition's watermark past the window's end was produced to
  the moment its on-time result was in the output topic.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from confluent_kafka import Consumer, TopicPartition

from kappa.io import kafka, readers, wire_format
from kappa.io.event_codec import ArchiveToKafka, ValueFormat
from kappa.io.orders import epoch_ms, order_from_json
from kappa.io.schema_registry import SchemaRegistry
from kappa.services.flink_cluster import FlinkCluster
from kappa.services.kafka_broker import KafkaBroker
from kappa.services.process import free_port

JOB_NAME = "orders-per-minute-demo"
MAX_OUT_OF_ORDERNESS_MS = 5_000  # passed to the job, and used to find the record that closed a window


def _lag(broker: KafkaBroker, topic: str, group: str) -> int:
    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": group})
    parts = [TopicPartition(topic, p) for p in kafka.partitions_of(broker.bootstrap_servers, topic)]
    committed = consumer.committed(parts, timeout=10)
    lag = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] - max(c.offset, 0) for tp, c in zip(parts, committed))
    consumer.close()
    return lag


def _latencies(inputs: List[tuple], results: List[dict], result_times: Dict[str, int], since_ms: int) -> List[int]:
    """Per on-time window closed by a record produced after `since_ms`: its result time minus the
    produce time of that record."""
    by_partition: Dict[int, List[tuple]] = {}
    for partition, produced_ms, event_ms in inputs:
        by_partition.setdefault(partition, []).append((event_ms, produced_ms))
    latencies = []
    for result in results:
        if result["timing"] != "ON_TIME":
            continue
        needed = result["window_end"] + MAX_OUT_OF_ORDERNESS_MS
        closers = [min((p for e, p in records if e >= needed), default=None) for records in by_partition.values()]
        if None in closers or max(closers) < since_ms:
            continue  # closed by the idle timeout at the end, or by the backlog before the job ran
        latencies.append(result_times[result["key"]] - max(closers))
    return latencies


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=2_000, help="records a second into Kafka")
    parser.add_argument("--workdir", type=Path, default=Path("build/demo"))
    parser.add_argument("--backlog", action="store_true", help="produce everything first; measure throughput")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    archive = args.workdir / "archive"
    subprocess.run([sys.executable, "-m", "kappa.runners.cli", "generate", "orders", "--output", str(archive),
                    "--format", "jsonl", "--events", str(args.events), "--hours", "2", "--seed", "7"], check=True)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    broker = KafkaBroker(scratch / "kafka", port=free_port(), controller_port=free_port())
    cluster = FlinkCluster(scratch / "flink", rest_port=free_port(), rpc_port=free_port(),
                           worker_pool_port=free_port())
    with broker, cluster:
        print(f"Kafka on {broker.bootstrap_servers}, Flink UI on http://{cluster.rest_address}", flush=True)
        kafka.create_topic(broker.bootstrap_servers, "orders", 4)
        records = _archive_records(archive)
        # Two seconds' worth is in Kafka before the job starts: a job that meets an empty topic for
        # longer than --idle-timeout moves its watermark to the wall clock, past the archive's times.
        head = len(records) if args.backlog else min(len(records), int(args.rate * 2))
        kafka.produce(broker.bootstrap_servers, "orders", records[:head])
        submitted = subprocess.run(
            [sys.executable, "-m", "kappa.runners.cli", "run", "orders-per-minute", "--mode", "stream",
             "--runner", "flink", "--flink-master", cluster.rest_address, "--worker-pool",
             cluster.worker_pool_address, "--bootstrap-servers", broker.bootstrap_servers,
             "--job-name", JOB_NAME, "--allowed-lateness", "10m", "--idle-timeout", "5s",
             "--max-out-of-orderness", f"{MAX_OUT_OF_ORDERNESS_MS}ms",
             "--start-from", "earliest"], capture_output=True, text=True)
        print(submitted.stdout, flush=True)
        if submitted.returncode != 0:
            print(submitted.stderr[-3000:], file=sys.stderr)
            return 1
        job_id = cluster.rest.running_job(JOB_NAME)["jid"]
        try:
            if args.backlog:
                _drain_time(broker, len(records))
            return _replay_and_watch(broker, records, head, None if args.backlog else args.rate)
        finally:
            cluster.rest.cancel(job_id)


def _archive_records(archive: Path) -> List[tuple]:
    to_kafka = ArchiveToKafka(order_from_json, ValueFormat.AVRO)
    return [to_kafka(raw) for raw in readers.iter_raw_records(str(archive / "*.jsonl"), readers.RecordFormat.JSONL)]


def _drain_time(broker: KafkaBroker, count: int) -> None:
    started = time.monotonic()
    while _lag(broker, "orders", "kappa-orders-per-minute") > 0 and time.monotonic() - started < 600:
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    print(f"throughput: read {count:,} records of backlog in {elapsed:.1f}s after the job started running "
          f"({count / elapsed:,.0f} records/s through Kafka -> Flink -> Kafka)", flush=True)


def _replay_and_watch(broker: KafkaBroker, records: List[tuple], head: int, rate: Optional[float]) -> int:
    producing = threading.Thread(target=kafka.produce,
                                 args=(broker.bootstrap_servers, "orders", records[head:], rate))
    started, started_ms = time.monotonic(), int(time.time() * 1000)
    if rate:
        producing.start()
    registry = SchemaRegistry()
    shown, closed = 0, set()
    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "kappa-demo-watch",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe(["orders-per-minute-by-region"])
    expected_windows = None
    deadline = time.monotonic() + len(records) / (rate or 10_000) + 120
    while time.monotonic() < deadline:
        for message in consumer.consume(500, timeout=0.5):
            if message.error() is not None:
                continue
            result = wire_format.read_any(message.value(), registry)
            start = time.strftime("%H:%M", time.gmtime(result["window_start"].timestamp()))
            if shown < 40 or result["is_last"] and len(closed) % 100 == 0:
                print(f"  {result['region']:<9} {start}  {result['count']:>4}  {result['timing']:<7}"
                      f"{' last' if result['is_last'] else ''}", flush=True)
            shown += 1
            if result["is_last"]:
                closed.add(result["key"])
        if not producing.is_alive() and expected_windows is None:
            if rate:
                produced_s = time.monotonic() - started
                print(f"produced {len(records) - head:,} records in {produced_s:.1f}s "
                      f"({(len(records) - head) / produced_s:,.0f}/s) after the first {head:,}", flush=True)
            expected_windows = len(set(_windows(records)))
        if expected_windows is not None and len(closed) >= expected_windows:
            break
    consumer.close()
    _report(broker, shown, len(closed), expected_windows, started_ms)
    return 0 if expected_windows is not None and len(closed) >= expected_windows else 1


def _windows(records: List[tuple]):
    decode = wire_format.WireCodec("order")
    for key, value in records:
        if key is not None:
            order = decode.decode(value)
            yield order["region"], epoch_ms(order["event_time"]) // 60_000


def _report(broker: KafkaBroker, shown: int, closed: int, expected: Optional[int], since_ms: int) -> None:
    registry = SchemaRegistry()
    inputs = []
    for message in kafka.consume(broker.bootstrap_servers, "orders", idle_s=1.5):
        record = wire_format.read_any(message.value, registry)
        if isinstance(record, dict) and hasattr(record.get("event_time"), "timestamp"):
            inputs.append((message.partition, message.timestamp_ms, epoch_ms(record["event_time"])))
    results, result_times = [], {}
    for message in kafka.consume(broker.bootstrap_servers, "orders-per-minute-by-region", idle_s=1.5):
        result = wire_format.read_any(message.value, registry)
        result["window_end"] = epoch_ms(result["window_end"])
        results.append(result)
        result_times.setdefault(result["key"], message.timestamp_ms)
    latencies = sorted(_latencies(inputs, results, result_times, since_ms))
    print(f"results: {shown:,} panes, {closed:,} of {expected:,} windows closed "
          f"(consumer lag now {_lag(broker, 'orders', 'kappa-orders-per-minute')})")
    if latencies:
        q = statistics.quantiles(latencies, n=100)
        print(f"latency from the closing record's produce to the on-time result, {len(latencies)} windows: "
              f"p50 {q[49]:,.0f} ms, p99 {q[98]:,.0f} ms, max {latencies[-1]:,} ms")


if __name__ == "__main__":
    sys.exit(main())
