"""A pipeline streamed from a backlog, Kafka -> Flink session cluster (parallelism 2) -> Kafka:

    python -m kappa.benchmarks.stream_backlog --bench viewers --archive DIR --result FILE

Every input of the archive (`DIR/<stream>/*.avro`, interleaved by event time as a replay merges them)
is in Kafka before the job starts. Throughput is events per second until the job's group has lag 0
on every input, from the job's start and from its first commit, and until the last result is in its
topic (results wait for the watermark, so they trail the reading). Every output's final records (the
latest pane of each key) are checked against the bare-Python limit's by digest, and the late topic
must be empty: the job runs with enough allowed lateness for the archive's stragglers.
"""
from __future__ import annotations

import argparse
import datetime
import heapq
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from kappa.benchmarks import archive_bench
from kappa.io import contracts, kafka, readers, wire_format
from kappa.io.contracts import epoch_ms
from kappa.io.event_codec import ArchiveToKafka, ValueFormat
from kappa.io.schema_registry import SchemaRegistry
from kappa.pipelines import registry
from kappa.pipelines.model import Pipeline
from kappa.runners import demo
from kappa.services.flink_cluster import FlinkCluster
from kappa.services.kafka_broker import KafkaBroker
from kappa.services.process import free_port

BENCHES = ("fraud", "viewers", "surge")  # modules of kappa.benchmarks that declare a BENCH
LATENESS = "10m"  # keeps every straggler of a generated archive: nothing late
MAX_OUT_OF_ORDERNESS_MS = 5_000
# Keyed state and timers live on Flink's heap: its default task manager (1728m) ran out of heap on a
# fraud backlog of 300,000 payments.
TASKMANAGER_MEMORY = "6g"
PARTITIONS = 4
Produced = Tuple[int, str, Optional[bytes], bytes]  # event ms (that of the record before, if malformed), topic, key, value


def archive_records(directory: str, pipeline: Pipeline, stream: str) -> List[Produced]:
    """One input of the archive as the (event ms, topic, key, value) it is produced as, in file order:
    keyed by the input's declared key, in the contract's Avro."""
    declared = pipeline.inputs[stream]
    contract = contracts.contract(declared.subject)
    parse = contract.parser().parse
    to_kafka = ArchiveToKafka(declared.subject, parse, declared.key, ValueFormat.AVRO, contract.event_time_field)
    records, event_ms = [], 0
    for raw in readers.iter_raw_records(os.path.join(directory, stream, "*.avro"), contract.schema):
        key, value = to_kafka(raw)
        if key is not None:
            event_ms = getattr(parse(raw), contract.event_time_field)
        records.append((event_ms, stream, key, value))
    return records


def interleaved(directory: str, pipeline: Pipeline) -> List[Produced]:
    """Every input in one order: of the next record of each, the one with the smallest event time."""
    return list(heapq.merge(*(archive_records(directory, pipeline, stream) for stream in sorted(pipeline.inputs)),
                            key=lambda record: record[0]))


def _plain(record: dict) -> dict:
    """A record read back from Kafka as the files have it: timestamps as epoch ms."""
    return {k: epoch_ms(v) if isinstance(v, datetime.datetime) else v for k, v in record.items()}


def latest(broker: KafkaBroker, topic: str, expected: int, timeout_s: float) -> Tuple[Dict[str, dict], Dict[str, int]]:
    """key -> the latest record of the topic and key -> when that was written, once `expected` keys are
    in (or the time is up)."""
    registry_ = SchemaRegistry()
    records: Dict[str, dict] = {}
    written: Dict[str, int] = {}
    consumer = kafka.Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "kappa-bench-watch",
                               "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=0.5):
                if message.error() is not None:
                    continue
                record = _plain(wire_format.read_any(message.value(), registry_))
                records[record["key"]] = record
                written[record["key"]] = message.timestamp()[1]
    finally:
        consumer.close()
    return records, written


def has_topic(broker: KafkaBroker, topic: str) -> bool:
    try:
        kafka.partitions_of(broker.bootstrap_servers, topic)
        return True
    except ValueError:
        return False


def group_of(pipeline: str) -> str:
    return f"kappa-{pipeline}"


def submit(cluster: FlinkCluster, broker: KafkaBroker, pipeline: str, job_name: str, lateness: str) -> Optional[str]:
    """`kappa run PIPELINE --mode stream` submitted to the session cluster from the earliest offsets;
    the running job's id, or None (its error printed) when the submission failed."""
    submitted = subprocess.run(
        [sys.executable, "-m", "kappa.runners.cli", "run", pipeline, "--mode", "stream", "--runner", "flink",
         "--flink-master", cluster.rest_address, "--worker-pool", cluster.worker_pool_address,
         "--bootstrap-servers", broker.bootstrap_servers, "--job-name", job_name, "--group-id", group_of(pipeline),
         "--allowed-lateness", lateness, "--idle-timeout", "5s", "--max-out-of-orderness", f"{MAX_OUT_OF_ORDERNESS_MS}ms",
         "--checkpoint-interval", "10s", "--start-from", "earliest"], capture_output=True, text=True)
    if submitted.returncode != 0:
        print(submitted.stderr[-3000:], file=sys.stderr)
        return None
    return cluster.rest.running_job(job_name)["jid"]


def late_records(broker: KafkaBroker, pipeline: Pipeline) -> int:
    """How many records the job put in its late topic (none, when it never made one)."""
    topic = pipeline.default_late_topic()
    return sum(1 for _ in kafka.consume(broker.bootstrap_servers, topic, idle_s=1.5)) if has_topic(broker, topic) else 0


def written_out(figures: Dict[str, Any], result: Path) -> int:
    """The figures printed and written to `result`; the exit code: 0 when the results matched and
    nothing was late."""
    print(json.dumps(figures, indent=1))
    result.write_text(json.dumps(figures, indent=1))
    return 0 if figures["results_match"] and figures["late"] == 0 else 1


def final(record: dict) -> dict:
    """A window's latest pane as a backfill writes its one result: on time and last."""
    return {**record, "timing": "ON_TIME", "is_last": True} if "timing" in record else record


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="kappa.benchmarks.stream_backlog", description=__doc__.splitlines()[0])
    parser.add_argument("--bench", choices=BENCHES, required=True)
    parser.add_argument("--archive", required=True, help="a folder with <input>/*.avro per input of the pipeline")
    parser.add_argument("--workdir", type=Path, default=Path("build/bench/stream-backlog"))
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    bench: archive_bench.Bench = importlib.import_module(f"kappa.benchmarks.{args.bench}").BENCH
    pipeline = registry.get(bench.pipeline)
    records = interleaved(args.archive, pipeline)
    expected = {output: list(written) for output, written in
                bench.limit(archive_bench.Archive(args.archive, 0, len(records))).items()}
    args.workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    broker = KafkaBroker(scratch / "kafka", port=free_port(), controller_port=free_port())
    cluster = FlinkCluster(scratch / "flink", rest_port=free_port(), rpc_port=free_port(),
                           worker_pool_port=free_port(), taskmanager_memory=TASKMANAGER_MEMORY)
    job_name, inputs = f"{bench.pipeline}-bench", sorted(pipeline.inputs)
    figures: Dict[str, Any] = {"pipeline": bench.pipeline, "records": len(records), "allowed_lateness": LATENESS,
                               "expected": {output: len(finals) for output, finals in expected.items()}}
    with broker, cluster:
        for stream in inputs:
            kafka.create_topic(broker.bootstrap_servers, stream, PARTITIONS)
        kafka.produce_to(broker.bootstrap_servers, (record[1:] for record in records))
        job_id = submit(cluster, broker, bench.pipeline, job_name, LATENESS)
        if job_id is None:
            return 1
        try:
            running_ms = int(time.time() * 1000)
            figures.update(demo.drain(broker, len(records), inputs, group_of(bench.pipeline)))
            streamed, last_ms = {}, running_ms
            for output in bench.outputs:
                found, written = latest(broker, pipeline.default_output_topic(output), len(expected[output]), 600)
                streamed[output] = [final(record) for record in found.values()]
                last_ms = max([last_ms, *written.values()])
            figures["results_s"] = (last_ms - running_ms) / 1000
            figures["results_per_s"] = len(records) / figures["results_s"]
            figures["written"] = {output: len(finals) for output, finals in streamed.items()}
            figures["results_match"] = archive_bench.digest(streamed) == archive_bench.digest(expected)
            figures["late"] = late_records(broker, pipeline)
        finally:
            cluster.rest.cancel(job_id)
    return written_out(figures, args.result)


if __name__ == "__main__":
    sys.exit(main())
