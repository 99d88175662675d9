"""`make run-flink`: the streaming path end to end, on this machine, and everything stopped afterwards.

Starts a Kafka broker and a Flink session cluster on free loopback ports, submits orders-per-minute to
the cluster, replays a generated archive into the `orders` topic at a steady rate, and prints each
window's result as it lands in the output topic. At the end it prints what it measured:
- with `--backlog`, the archive is in Kafka before the job starts, and throughput is the records the
  job read per second until the group's lag was 0 (from the offsets the source commits);
- otherwise, once the job has committed its first offsets (its start-up is not counted), the rest is
  produced at `--rate`: the produce rate the job kept up with (lag 0 at the end), the consumer lag
  every few seconds, and the latency, per window, from the moment the record that moved every
  partition's watermark past the window's end was produced to the moment its on-time result was in
  the output topic.
Every run also checks the final count of every window against a plain-Python count of the archive.
`--result FILE` writes the figures as JSON for `make bench`.
"""
import argparse
import bisect
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from kappa.io import contracts, kafka, orders, readers, wire_format
from kappa.io.event_codec import ArchiveToKafka, ValueFormat
from kappa.io.contracts import epoch_ms
from kappa.io.schema_registry import SchemaRegistry
from kappa.services.flink_cluster import FlinkCluster
from kappa.services.kafka_broker import KafkaBroker
from kappa.services.process import free_port

JOB_NAME = "orders-per-minute-demo"
JOB_GROUP = "kappa-orders-per-minute"  # the group the job's Kafka source commits its offsets as
MAX_OUT_OF_ORDERNESS_MS = 5_000  # passed to the job, and used to find the record that closed a window
WARM_UP_S = 30  # the job starts behind (it starts reading after the first records); latency after it too


_COORDINATOR_MOVING = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                       KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError._TIMED_OUT}


def lag(broker: KafkaBroker, topics: Sequence[str], group: str, attempts: int = 10) -> int:
    """Records the group has not committed yet, over all partitions of `topics`. Just after a broker
    starts, its group coordinator may still be loading or moving: that answer is asked again, a second
    later."""
    parts = [TopicPartition(topic, p) for topic in topics
             for p in kafka.partitions_of(broker.bootstrap_servers, topic)]
    attempt = 1
    while True:
        consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": group})
        try:
            committed = consumer.committed(parts, timeout=10)
            return sum(consumer.get_watermark_offsets(tp, timeout=10)[1] - max(c.offset, 0)
                       for tp, c in zip(parts, committed))
        except KafkaException as err:
            if attempt == attempts or err.args[0].code() not in _COORDINATOR_MOVING:
                raise
        finally:
            consumer.close()
        attempt += 1
        time.sleep(1)


class _Closers:
    """For one partition: the first produce time of a record at or past an event time, in O(log n)."""

    def __init__(self, records: List[Tuple[int, int]]):  # (event_ms, produced_ms)
        records.sort()
        self._event_ms = [event_ms for event_ms, _ in records]
        self._first_produced = [produced_ms for _, produced_ms in records]
        for i in range(len(records) - 2, -1, -1):  # earliest produce among this record and all later ones
            self._first_produced[i] = min(self._first_produced[i], self._first_produced[i + 1])

    def first_at_or_past(self, event_ms: int) -> Optional[int]:
        i = bisect.bisect_left(self._event_ms, event_ms)
        return self._first_produced[i] if i < len(self._event_ms) else None


def _latencies(inputs: List[tuple], results: List[dict], result_times: Dict[str, int], since_ms: int) -> List[int]:
    """Per on-time window closed by a record produced after `since_ms`: its result time minus the
    produce time of that record."""
    by_partition: Dict[int, List[Tuple[int, int]]] = {}
    for partition, produced_ms, event_ms in inputs:
        by_partition.setdefault(partition, []).append((event_ms, produced_ms))
    partitions = [_Closers(records) for records in by_partition.values()]
    latencies = []
    for result in results:
        if result["timing"] != "ON_TIME":
            continue
        needed = result["window_end"] + MAX_OUT_OF_ORDERNESS_MS
        closers = [partition.first_at_or_past(needed) for partition in partitions]
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
    parser.add_argument("--result", type=Path, help="write the figures here as JSON")
    parser.add_argument("--archive", metavar="PATH", help="replay these archive files instead of generating "
                        "--events orders (a file, folder or glob, as `kappa run --input`)")
    parser.add_argument("--records", type=int, help="replay only the first N records of the archive")
    parser.add_argument("--per-element", action="store_true", help="run the job with `kappa run --per-element`")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.archive is None:
        args.archive = str(args.workdir / "archive")
        subprocess.run([sys.executable, "-m", "kappa.runners.cli", "generate", "orders", "--output", args.archive,
                        "--format", "jsonl", "--events", str(args.events), "--hours", "2", "--seed", "7"],
                       check=True)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    broker = KafkaBroker(scratch / "kafka", port=free_port(), controller_port=free_port())
    cluster = FlinkCluster(scratch / "flink", rest_port=free_port(), rpc_port=free_port(),
                           worker_pool_port=free_port())
    with broker, cluster:
        print(f"Kafka on {broker.bootstrap_servers}, Flink UI on http://{cluster.rest_address}", flush=True)
        kafka.create_topic(broker.bootstrap_servers, "orders", 4)
        records = archive_records(args.archive)[:args.records]
        # Two seconds' worth is in Kafka before the job starts: a job that meets an empty topic for
        # longer than --idle-timeout moves its watermark to the wall clock, past the archive's times.
        head = len(records) if args.backlog else min(len(records), int(args.rate * 2))
        kafka.produce(broker.bootstrap_servers, "orders", records[:head])
        submitted = subprocess.run(
            [sys.executable, "-m", "kappa.runners.cli", "run", "orders-per-minute", "--mode", "stream",
             "--runner", "flink", "--flink-master", cluster.rest_address, "--worker-pool",
             cluster.worker_pool_address, "--bootstrap-servers", broker.bootstrap_servers,
             "--job-name", JOB_NAME, "--allowed-lateness", "10m", "--idle-timeout", "5s",
             "--max-out-of-orderness", f"{MAX_OUT_OF_ORDERNESS_MS}ms", "--checkpoint-interval", "10s",
             "--start-from", "earliest"] + (["--per-element"] if args.per_element else []),
            capture_output=True, text=True)
        print(submitted.stdout, flush=True)
        if submitted.returncode != 0:
            print(submitted.stderr[-3000:], file=sys.stderr)
            return 1
        job_id = cluster.rest.running_job(JOB_NAME)["jid"]
        figures: Dict[str, Any] = {"records": len(records), "backlog": args.backlog}
        try:
            if args.backlog:
                figures.update(drain(broker, len(records), ["orders"], JOB_GROUP))
            else:  # the steady rate begins once the job reads: starting Flink's workers is not latency
                running = time.monotonic()
                figures["first_commit_s"] = first_commit(broker, head, ["orders"], JOB_GROUP)[0] - running
                print(f"the job committed its first offsets {figures['first_commit_s']:.1f}s after it was running; "
                      f"producing the rest at {args.rate:,.0f}/s", flush=True)
            code = _replay_and_watch(broker, records, head, None if args.backlog else args.rate, figures,
                                     lambda: cluster.rest.checkpointed_bytes(job_id))
        finally:
            cluster.rest.cancel(job_id)
    if args.result:
        args.result.write_text(json.dumps(figures, indent=1))
    return code


def archive_records(path: str) -> List[tuple]:
    """An archive's records as the (key, value) pairs the demo produces: Avro in the wire format."""
    contract = contracts.contract(orders.SUBJECT)
    to_kafka = ArchiveToKafka(orders.SUBJECT, contract.parser().parse, "order_id", ValueFormat.AVRO)
    return [to_kafka(raw) for raw in readers.iter_raw_records(path, contract.schema)]


def first_commit(broker: KafkaBroker, waiting: int, topics: Sequence[str], group: str,
                 timeout_s: float = 600) -> Tuple[float, int]:
    """Waits until the job has committed its first offsets (the lag is under the `waiting` records it
    started with); returns when that was seen and the lag then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = lag(broker, topics, group)
        if now < waiting:
            return time.monotonic(), now
    raise RuntimeError(f"the job committed no offset in {timeout_s:.0f}s")


def drain(broker: KafkaBroker, count: int, topics: Sequence[str], group: str) -> Dict[str, float]:
    """Throughput over a backlog of `count` records: from the job running to the group's lag 0 on
    `topics`, which includes the job's start (workers, partition listing, first fetches), and
    sustained, from the first offsets the job committed to lag 0."""
    started = time.monotonic()
    first, lag_then = first_commit(broker, count, topics, group)
    now = lag_then
    while now > 0 and time.monotonic() - started < 600:
        time.sleep(0.5)
        now = lag(broker, topics, group)
    ended = time.monotonic()
    figures = {"throughput_per_s": count / (ended - started), "first_commit_s": first - started,
               "sustained_per_s": lag_then / max(ended - first, 1e-9), "lag_left": now}
    print(f"throughput: read {count:,} records of backlog in {ended - started:.1f}s after the job started running "
          f"({figures['throughput_per_s']:,.0f} records/s); sustained "
          f"{figures['sustained_per_s']:,.0f} records/s after its first commit, "
          f"{figures['first_commit_s']:.1f}s in", flush=True)
    return figures


def _replay_and_watch(broker: KafkaBroker, records: List[tuple], head: int, rate: Optional[float],
                      figures: Dict[str, Any], state_bytes: Callable[[], Optional[int]]) -> int:
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
    expected: Optional[Dict[str, int]] = None
    deadline = time.monotonic() + len(records) / (rate or 10_000) + 120
    lag_samples: List[Tuple[float, int]] = []
    state_samples: List[Tuple[float, Optional[int]]] = []
    while time.monotonic() < deadline:
        if producing.is_alive() and (not lag_samples or time.monotonic() - started - lag_samples[-1][0] >= 5):
            lag_samples.append((round(time.monotonic() - started, 1), lag(broker, ["orders"], JOB_GROUP)))
            state_samples.append((lag_samples[-1][0], state_bytes()))
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
        if not producing.is_alive() and expected is None:
            if rate:
                produced_s = time.monotonic() - started
                figures["produced_per_s"] = (len(records) - head) / produced_s
                print(f"produced {len(records) - head:,} records in {produced_s:.1f}s "
                      f"({figures['produced_per_s']:,.0f}/s) after the first {head:,}", flush=True)
            expected = _expected_counts(records)
        if expected is not None and len(closed) >= len(expected):
            break
    consumer.close()
    figures["lag"], figures["checkpointed_bytes"] = lag_samples, state_samples
    if lag_samples:
        print("consumer lag while producing (s: records): " + ", ".join(f"{t:.0f}: {n:,}" for t, n in lag_samples))
        print("latest checkpoint's state while producing (s: bytes): "
              + ", ".join(f"{t:.0f}: {n:,}" for t, n in state_samples if n is not None))
    figures.update(_report(broker, expected or _expected_counts(records), shown, len(closed), started_ms))
    return 0 if figures["windows_closed"] >= figures["windows_expected"] and figures["counts_match"] else 1


def window_ids(records: List[tuple]) -> Dict[str, List[str]]:
    """The order id of every valid record produced, redeliveries included, per `region:window_start_ms`
    of its 1-minute window, in plain Python."""
    decode = wire_format.WireCodec("order")
    ids: Dict[str, List[str]] = {}
    for key, value in records:
        if key is not None:
            order = decode.decode(value)
            start = epoch_ms(order["event_time"]) // 60_000 * 60_000
            ids.setdefault(f"{order['region']}:{start}", []).append(order["order_id"])
    return ids


def _expected_counts(records: List[tuple]) -> Dict[str, int]:
    """Distinct order ids per region and minute: kappa's job."""
    return {window: len(set(ids)) for window, ids in window_ids(records).items()}


def _report(broker: KafkaBroker, expected: Dict[str, int], shown: int, closed: int,
            since_ms: int) -> Dict[str, Any]:
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
    warm = sorted(_latencies(inputs, results, result_times, since_ms + WARM_UP_S * 1000))
    finals: Dict[str, int] = {}
    for result in results:
        finals[result["key"]] = max(finals.get(result["key"], 0), result["count"])
    counts_match = finals == expected
    print(f"results: {shown:,} panes, {closed:,} of {len(expected):,} windows closed "
          f"(consumer lag now {lag(broker, ['orders'], JOB_GROUP)}); final counts "
          f"{'equal' if counts_match else 'DIFFER from'} the archive's, counted in plain Python")
    figures: Dict[str, Any] = {"windows_closed": closed, "windows_expected": len(expected),
                               "counts_match": counts_match, "counts": finals}
    for name, values, what in (("latency_ms", latencies, "all"),
                                ("latency_after_warm_up_ms", warm, f"after the first {WARM_UP_S} s")):
        if len(values) >= 2:
            q = statistics.quantiles(values, n=100)
            figures[name] = {"windows": len(values), "p50": q[49], "p99": q[98], "max": values[-1]}
            print(f"latency from the closing record's produce to the on-time result, {what}, {len(values)} "
                  f"windows: p50 {q[49]:,.0f} ms, p99 {q[98]:,.0f} ms, max {values[-1]:,} ms")
    return figures


if __name__ == "__main__":
    sys.exit(main())
