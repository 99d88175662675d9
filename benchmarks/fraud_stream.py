"""fraud-scoring streamed, Kafka -> Flink session cluster (parallelism 2) -> Kafka, measured two ways:

    python -m kappa.benchmarks.fraud_stream --archive DIR --backlog --allowed-lateness 10m --result FILE
    python -m kappa.benchmarks.fraud_stream --archive DIR --rate 5000 --result FILE

- `--backlog`: both inputs of the archive (`DIR/payments/*.avro`, `DIR/devices/*.avro`) are in Kafka
  before the job starts; throughput is payments (and records) per second until the job's group has
  lag 0 on both topics, and payments scored per second until the last score is in the results topic
  (a payment is scored only once the watermark has passed it, so scores trail the reading).
- `--rate N`: the job starts on the first two seconds' worth, then the rest is produced at N payments
  a second (the devices in between at their own share), both inputs interleaved in one order: the
  smallest event time first, as replay merges them. The latency of a payment is from the produce of
  the record that moved the watermark of every partition of both topics past the time it is scored
  at (its event time plus the allowed lateness) to its record in the results topic.
Either way every payment's record in the results topic is checked against the bare-Python limit's
(`kappa.benchmarks.fraud_limit`) by digest, and the late topic must be empty: a run whose archive
arrives more out of order than the allowed lateness does not compare.
"""
import argparse
import collections
import glob
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from kappa.benchmarks import archive_bench, fraud_limit, stream_backlog
from kappa.io import kafka, wire_format
from kappa.io.contracts import epoch_ms
from kappa.io.schema_registry import SchemaRegistry
from kappa.pipelines.fraud_scoring import PIPELINE
from kappa.pipelines.model import MAIN_OUTPUT
from kappa.runners import demo
from kappa.services.flink_cluster import FlinkCluster
from kappa.services.kafka_broker import KafkaBroker
from kappa.services.process import free_port
from kappa.transforms.windowing import parse_duration_ms

STREAMS = sorted(PIPELINE.inputs)
JOB_NAME = "fraud-scoring-bench"
GROUP = stream_backlog.group_of(PIPELINE.name)
MAX_OUT_OF_ORDERNESS_MS = stream_backlog.MAX_OUT_OF_ORDERNESS_MS
WARM_UP_S = 30


def _latencies(broker: KafkaBroker, scored: Dict[str, dict], written: Dict[str, int], lateness_ms: int,
               since_ms: int) -> List[int]:
    """Per payment scored after `since_ms` by the watermark (not by the idle timeout at the end):
    its result's write time minus the produce time of the record that let the watermark pass it."""
    registry = SchemaRegistry()
    by_partition: Dict[Tuple[str, int], List[Tuple[int, int]]] = {}
    for stream in STREAMS:
        for message in kafka.consume(broker.bootstrap_servers, stream, idle_s=1.5):
            record = wire_format.read_any(message.value, registry)
            if isinstance(record, dict) and hasattr(record.get("event_time"), "timestamp"):
                by_partition.setdefault((stream, message.partition), []).append(
                    (epoch_ms(record["event_time"]), message.timestamp_ms))
    partitions = [demo._Closers(records) for records in by_partition.values()]
    latencies = []
    for key, record in scored.items():
        # A payment's timer is at the end of its millisecond: the watermark must reach the next one.
        needed = record["event_time"] + lateness_ms + 1 + MAX_OUT_OF_ORDERNESS_MS
        closers = [partition.first_at_or_past(needed) for partition in partitions]
        if None in closers or max(closers) < since_ms:
            continue
        latencies.append(written[key] - max(closers))
    return sorted(latencies)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="kappa.benchmarks.fraud_stream", description=__doc__.splitlines()[0])
    parser.add_argument("--archive", required=True, help="a folder with payments/*.avro and devices/*.avro")
    parser.add_argument("--backlog", action="store_true", help="produce everything first; measure throughput")
    parser.add_argument("--rate", type=float, default=5_000, help="payments a second, unless --backlog")
    parser.add_argument("--allowed-lateness", default="0ms", metavar="DURATION")
    parser.add_argument("--workdir", type=Path, default=Path("build/bench/fraud-stream"))
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    lateness_ms = parse_duration_ms(args.allowed_lateness)
    records = stream_backlog.interleaved(args.archive, PIPELINE)
    payments = sum(1 for record in records if record[1] == "payments")
    expected = archive_bench.digest({MAIN_OUTPUT: fraud_limit.score_archive(
        sorted(glob.glob(os.path.join(args.archive, "payments", "*.avro"))),
        sorted(glob.glob(os.path.join(args.archive, "devices", "*.avro")))).values()})
    rate = None if args.backlog else args.rate * len(records) / payments  # records/s for that many payments/s
    args.workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    broker = KafkaBroker(scratch / "kafka", port=free_port(), controller_port=free_port())
    cluster = FlinkCluster(scratch / "flink", rest_port=free_port(), rpc_port=free_port(),
                           worker_pool_port=free_port(), taskmanager_memory=stream_backlog.TASKMANAGER_MEMORY)
    figures: Dict[str, Any] = {"records": len(records), "payments": payments, "backlog": args.backlog,
                               "rate_payments_per_s": None if args.backlog else args.rate,
                               "allowed_lateness_ms": lateness_ms}
    with broker, cluster:
        for stream in STREAMS:
            kafka.create_topic(broker.bootstrap_servers, stream, 4)
        head = len(records) if args.backlog else min(len(records), int(rate * 2))
        kafka.produce_to(broker.bootstrap_servers, (record[1:] for record in records[:head]))
        job_id = stream_backlog.submit(cluster, broker, PIPELINE.name, JOB_NAME, args.allowed_lateness)
        if job_id is None:
            return 1
        try:
            running_ms = int(time.time() * 1000)
            if args.backlog:
                figures.update(demo.drain(broker, len(records), STREAMS, GROUP))
                figures["payments_per_s"] = figures["throughput_per_s"] * payments / len(records)
                figures["sustained_payments_per_s"] = figures["sustained_per_s"] * payments / len(records)
                since_ms = int(time.time() * 1000)
            else:
                running = time.monotonic()
                figures["first_commit_s"] = demo.first_commit(broker, head, STREAMS, GROUP)[0] - running
                since_ms = int(time.time() * 1000)
                producing = threading.Thread(target=kafka.produce_to, args=(
                    broker.bootstrap_servers, (record[1:] for record in records[head:]), rate))
                started = time.monotonic()
                producing.start()
                figures["lag"] = []
                while producing.is_alive():
                    figures["lag"].append((round(time.monotonic() - started, 1), demo.lag(broker, STREAMS, GROUP)))
                    producing.join(5)
                figures["produced_payments_per_s"] = (payments - head * payments / len(records)) / (
                    time.monotonic() - started)
            scored, written = stream_backlog.latest(broker, PIPELINE.default_output_topic(MAIN_OUTPUT), expected[1], 600)
            figures["scored"] = len(scored)
            if args.backlog and written:
                # Reading ends at lag 0, but scores wait for the watermark: the last come after it.
                figures["scored_s"] = (max(written.values()) - running_ms) / 1000
                figures["scored_payments_per_s"] = len(scored) / figures["scored_s"]
                figures["scored_per_10s"] = sorted(collections.Counter(
                    (ms - running_ms) // 10_000 * 10 for ms in written.values()).items())  # (s since start, scores)
            figures["results_match"] = archive_bench.digest({MAIN_OUTPUT: scored.values()}) == expected
            figures["late"] = stream_backlog.late_records(broker, PIPELINE)
            if not args.backlog:
                for name, since in (("latency_ms", since_ms), ("latency_after_warm_up_ms", since_ms + WARM_UP_S * 1000)):
                    values = _latencies(broker, scored, written, lateness_ms, since)
                    if len(values) >= 2:
                        q = statistics.quantiles(values, n=100)
                        figures[name] = {"payments": len(values), "p50": q[49], "p99": q[98], "max": values[-1]}
        finally:
            cluster.rest.cancel(job_id)
    return stream_backlog.written_out(figures, args.result)


if __name__ == "__main__":
    sys.exit(main())
