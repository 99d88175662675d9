"""Kafka in and out of a pipeline, natively in Python on librdkafka (confluent-kafka).

Why not Beam's cross-language KafkaIO: it needs a Java expansion service and a Java SDK harness beside
every Flink task manager (docker, or an embedded harness on the runner's classpath), and Beam's own
tracker reports it not checkpointing on portable Flink (apache/beam#20979). This source is a plain
splittable DoFn that runs the same on Flink, Dataflow and the direct runners (docs/design.md).

Source: one restriction per partition, an offset range [start, end of time). Each call reads until it
catches up with the partition (or for `max_read_ms` while behind), claims offsets, hands each record
(key, value and timestamp) to the input's decoder, stamps every event with the event time from its
payload, and moves the partition's watermark to `max event time - max out-of-orderness`; the
runner's watermark is the minimum over partitions. An event that its input's rule says is too late
at the partition's watermark (`kappa.transforms.lateness`) comes out as a `LateRecord`: the runner's
watermark is never ahead of the partition's, so nothing a grouping downstream would drop gets past. A
partition with nothing left to read (its high watermark offset reached, as the broker says) for
`idle_timeout` follows processing time instead (the rule of Beam's KafkaIO CreateTime policy), so an
idle partition never stalls the others. The offset range and the watermark are the restriction's
state: Flink's checkpoints and savepoints carry them, and a restored job resumes at the offsets its
state was taken at, whatever was committed to Kafka since.

Sink: produces asynchronously and flushes when the bundle finishes; a Flink checkpoint finishes the
bundle first, so every result is in Kafka before the checkpoint completes (at-least-once). Results are
keyed by window, and dead letters by where they were read (`topic/partition@offset`), so a consumer
keeping the latest value per key sees each window and each dead letter exactly once.
"""
import dataclasses
import enum
import sys
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration, Timestamp
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kappa.io.dead_letter import DeadLetter
from kappa.transforms.aggregation import Fold
from kappa.transforms.lateness import LateRecord
from kappa.transforms.windowing import in_global_window

END_OF_TIME = sys.maxsize  # an unbounded offset range ends here, as Java's KafkaIO uses Long.MAX_VALUE
_ADMIN_TIMEOUT_S = 30.0


class StartFrom(enum.Enum):
    EARLIEST = "earliest"
    LATEST = "latest"
    COMMITTED = "committed"  # the group's committed offset, else the earliest


@dataclasses.dataclass(frozen=True)
class KafkaSource:
    """Where and how to read; every field is a flag of `kappa run --source kafka`."""

    bootstrap_servers: str
    topic: str
    group_id: str = "kappa"
    start_from: StartFrom = StartFrom.COMMITTED
    max_out_of_orderness_ms: int = 5_000
    idle_timeout_ms: int = 10_000
    batch_size: int = 5_000
    # A read ends once it has caught up with the partition, or after this long when it is behind.
    # Records and the watermark move on only when a read ends: caught up, reads last about one
    # consume (<= 100 ms), for latency; behind, longer reads cost less per record (docs/benchmarks.md).
    max_read_ms: int = 500
    # How long a partition that had nothing to read waits before its next read. Beam 2.62's Flink
    # runner keeps about 5 KB of checkpointed state per read for good (apache/beam#27648,
    # docs/design.md). An idle job of 4 partitions, measured: 100 ms polls, 5.9 reads/s and 22-31 KB/s
    # of growth; 1 s, 20 KB/s; 5 s, 4.4 KB/s. A record arriving after a silence waits up to this long.
    idle_poll_ms: int = 1_000

    def consumer(self) -> Consumer:
        return Consumer({
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        })


def create_topic(bootstrap_servers: str, topic: str, partitions: int) -> None:
    """Create the topic unless it exists (with any partition count)."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    future = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic]
    try:
        future.result(timeout=_ADMIN_TIMEOUT_S)
    except KafkaException as err:
        if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


def partitions_of(bootstrap_servers: str, topic: str) -> List[int]:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    metadata = admin.list_topics(topic=topic, timeout=_ADMIN_TIMEOUT_S).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise ValueError(f"Kafka topic {topic!r} does not exist on {bootstrap_servers}")
    return sorted(metadata.partitions)


class _PartitionWatermark(WatermarkEstimatorProvider):
    def initial_estimator_state(self, partition: int, restriction: OffsetRange) -> Timestamp:
        # Not None: a split the runner asks for before the first record would otherwise carry no
        # watermark, and Flink then lets the watermark run to the end of time, expiring every window.
        return MIN_TIMESTAMP

    def create_watermark_estimator(self, state: Timestamp) -> ManualWatermarkEstimator:
        return ManualWatermarkEstimator(state)


# A record's (value, key, timestamp in ms) -> an event, or a DeadLetter; never raises.
Decode = Callable[[Optional[bytes], Optional[bytes], int], Any]


@dataclasses.dataclass(frozen=True)
class InputStream:
    """One input of a pipeline as a Kafka source reads it."""

    name: str
    decode: Decode
    event_time_ms: Callable[[Any], int]
    too_late: Any  # a rule of kappa.transforms.lateness
    fold: Optional[Fold] = None  # what a read's valid events become (pre-aggregation); None: the events


class _ReadPartition(beam.DoFn, RestrictionProvider):
    """partition -> its records, decoded and stamped with event time, until the end of time; or, with
    a fold, what the fold makes of the valid records of each read (kappa.transforms.aggregation).

    It is its own restriction provider: the offsets a partition starts from depend on the source.
    """

    def __init__(self, source: KafkaSource, stream: InputStream):
        self._source = source
        self._stream = stream

    def initial_restriction(self, partition: int) -> OffsetRange:
        consumer = self._source.consumer()
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(self._source.topic, partition),
                                                       timeout=_ADMIN_TIMEOUT_S)
            start = {StartFrom.EARLIEST: low, StartFrom.LATEST: high}.get(self._source.start_from)
            if start is None:
                committed = consumer.committed([TopicPartition(self._source.topic, partition)],
                                               timeout=_ADMIN_TIMEOUT_S)[0].offset
                start = committed if committed >= 0 else low
        finally:
            consumer.close()
        return OffsetRange(start, END_OF_TIME)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, partition: int, restriction: OffsetRange) -> float:
        return 1.0  # partitions weigh the same; a backlog query per call would cost a broker round trip

    def split(self, partition: int, restriction: OffsetRange) -> Iterator[OffsetRange]:
        yield restriction  # one reader per partition keeps its records in offset order

    def setup(self) -> None:
        self._consumers: Dict[int, Consumer] = {}
        self._next_offset: Dict[int, int] = {}
        self._max_event_ms: Dict[int, int] = {}
        self._caught_up_since: Dict[int, float] = {}

    def teardown(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()

    def _caught_up(self, partition: int) -> bool:
        """Idle means nothing left to read, asked of the broker: an empty poll alone may only mean
        that a new consumer has not fetched yet, and idling then would jump the watermark past the
        records still waiting."""
        _, high = self._consumers[partition].get_watermark_offsets(
            TopicPartition(self._source.topic, partition), timeout=_ADMIN_TIMEOUT_S)
        return self._next_offset[partition] >= high

    def _consumer_at(self, partition: int, offset: int) -> Consumer:
        consumer = self._consumers.get(partition)
        if consumer is None:
            consumer = self._consumers[partition] = self._source.consumer()
        if self._next_offset.get(partition) != offset:
            consumer.assign([TopicPartition(self._source.topic, partition, offset)])
            self._next_offset[partition] = offset
        return consumer

    def process(self, partition: int,
                tracker=beam.DoFn.RestrictionParam(),
                watermark=beam.DoFn.WatermarkEstimatorParam(_PartitionWatermark())):
        consumer = self._consumer_at(partition, tracker.current_restriction().start)
        deadline = time.monotonic() + self._source.max_read_ms / 1000
        read = 0
        current = watermark.current_watermark()
        stamp_dead = max(current, Timestamp(0))
        watermark_ms = current.micros // 1000 if current > MIN_TIMESTAMP else None
        stream = self._stream
        too_late, event_time_ms = stream.too_late.too_late, stream.event_time_ms
        folded: Optional[List[Any]] = [] if stream.fold is not None else None
        split_here = caught_up = False
        while time.monotonic() < deadline and not (split_here or caught_up):
            messages = consumer.consume(self._source.batch_size, timeout=0.1)
            caught_up = len(messages) < self._source.batch_size  # the broker had no more ready
            for message in messages:
                if message.error() is not None:
                    raise KafkaException(message.error())
                if not tracker.try_claim(message.offset()):
                    # The runner split the restriction here. The rest of this batch is gone from the
                    # consumer, so the next restriction to start here must seek, not read on.
                    del self._next_offset[partition]
                    split_here = True
                    break
                read += 1
                self._next_offset[partition] = message.offset() + 1
                value = stream.decode(message.value(), message.key(), message.timestamp()[1])
                if isinstance(value, DeadLetter):  # no event time: it travels at the watermark
                    origin = f"{self._source.topic}/{partition}@{message.offset()}"
                    yield beam.window.TimestampedValue(value._replace(origin=origin), stamp_dead)
                    continue
                event_ms = event_time_ms(value)
                if too_late(event_ms, watermark_ms):
                    yield beam.window.TimestampedValue(LateRecord(stream.name, value, event_ms, watermark_ms),
                                                       stamp_dead)
                    continue
                if event_ms > self._max_event_ms.get(partition, -1):
                    self._max_event_ms[partition] = event_ms
                if folded is not None:
                    folded.append(value)
                else:
                    yield in_global_window(value, event_ms)
        if folded:
            yield from stream.fold(folded)
        if split_here:
            return
        self._advance_watermark(partition, watermark, read > 0)
        if read:
            consumer.commit(offsets=[TopicPartition(self._source.topic, partition, self._next_offset[partition])],
                            asynchronous=True)  # for lag monitoring only; restores use the restriction
        tracker.defer_remainder(Duration() if read else Duration(micros=self._source.idle_poll_ms * 1000))

    def _advance_watermark(self, partition: int, watermark: ManualWatermarkEstimator, got_records: bool) -> None:
        candidate_ms = None
        if got_records:
            self._caught_up_since.pop(partition, None)
            if partition in self._max_event_ms:  # else only dead letters so far, which carry no time
                candidate_ms = self._max_event_ms[partition] - self._source.max_out_of_orderness_ms
        elif self._caught_up(partition):
            now = time.time()
            since = self._caught_up_since.setdefault(partition, now)
            if (now - since) * 1000 >= self._source.idle_timeout_ms:
                candidate_ms = int(now * 1000) - self._source.max_out_of_orderness_ms
        else:  # records wait that the consumer has not fetched yet (it is starting): not idle
            self._caught_up_since.pop(partition, None)
        if candidate_ms is None:
            return
        candidate = Timestamp(micros=candidate_ms * 1000)
        if candidate > watermark.current_watermark():
            watermark.set_watermark(candidate)


def _list_partitions(source: KafkaSource) -> Callable[[Any], List[int]]:
    return lambda _: partitions_of(source.bootstrap_servers, source.topic)


class ReadFromKafka(beam.PTransform):
    """PBegin -> the input's events timestamped with event time, DeadLetters for records that cannot be
    decoded and LateRecords for events too late; with a fold, the valid events of each read of a
    partition come out folded by it.

    Partitions are listed when the job starts, on a worker, so building the job needs no broker.
    """

    def __init__(self, source: KafkaSource, stream: InputStream):
        super().__init__()
        self._source = source
        self._stream = stream

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Start" >> beam.Impulse()
            | "ListPartitions" >> beam.FlatMap(_list_partitions(self._source)).with_output_types(int)
            | "SpreadPartitions" >> beam.Reshuffle()
            | "ReadPartitions" >> beam.ParDo(_ReadPartition(self._source, self._stream)).with_input_types(int)
        )


class _Produce(beam.DoFn):
    def __init__(self, bootstrap_servers: str, topic: str):
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic

    def setup(self) -> None:
        self._producer = producer(self._bootstrap_servers)
        self._errors: List[str] = []

    def process(self, record: Tuple[Optional[bytes], bytes]):
        key, value = record
        self._producer.produce(self._topic, value=value, key=key, on_delivery=self._delivered)
        self._producer.poll(0)
        return ()  # a sink: nothing downstream (and Beam warns of a process method that returns nothing)

    def _delivered(self, err: Optional[KafkaError], _message: Any) -> None:
        if err is not None:
            self._errors.append(str(err))

    def finish_bundle(self) -> None:
        self._producer.flush()
        if self._errors:
            errors, self._errors = self._errors, []
            raise KafkaException(f"{len(errors)} records not delivered to {self._topic}: {errors[0]}")

    def teardown(self) -> None:
        self._producer.flush()


class WriteToKafka(beam.PTransform):
    """(key, value) byte pairs -> the topic."""

    def __init__(self, bootstrap_servers: str, topic: str):
        super().__init__()
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic

    def expand(self, records: beam.PCollection) -> beam.pvalue.PDone:
        records | "Produce" >> beam.ParDo(_Produce(self._bootstrap_servers, self._topic))
        return beam.pvalue.PDone(records.pipeline)


def producer(bootstrap_servers: str) -> Producer:
    """Idempotent, acks from all replicas: a retry never writes a record twice."""
    return Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "linger.ms": 5})


class KafkaRecord(NamedTuple):
    partition: int
    offset: int
    timestamp_ms: int  # the producer's (CreateTime) or the broker's (LogAppendTime)
    key: Optional[bytes]
    value: bytes


def consume(bootstrap_servers: str, topic: str, group_id: Optional[str] = None,
            idle_s: float = 5.0, reach_end_s: float = 60.0) -> Iterator[KafkaRecord]:
    """Records from the start of every partition: at least up to the end each partition had when called
    (waiting up to `reach_end_s` for them, since a consumer's first fetch can take longer than `idle_s` on
    a loaded machine), then until `idle_s` without records."""
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": group_id or "kappa-consume",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    partitions = [TopicPartition(topic, p, 0) for p in partitions_of(bootstrap_servers, topic)]
    ends = {tp.partition: _end_offset(consumer, tp) for tp in partitions}
    consumer.assign(partitions)
    try:
        started = quiet_since = time.monotonic()
        behind = {p for p, end in ends.items() if end > 0}
        while behind and time.monotonic() - started < reach_end_s or time.monotonic() - quiet_since < idle_s:
            messages = consumer.consume(1000, timeout=0.2)
            for message in messages:
                if message.error() is not None:
                    raise KafkaException(message.error())
                yield KafkaRecord(message.partition(), message.offset(), message.timestamp()[1], message.key(),
                                  message.value())
            if behind:
                behind = {tp.partition for tp in consumer.position([TopicPartition(topic, p) for p in behind])
                          if tp.offset < ends[tp.partition]}
            if messages or behind:
                quiet_since = time.monotonic()
    finally:
        consumer.close()


def _end_offset(consumer: Consumer, partition: TopicPartition, wait_s: float = 10.0) -> int:
    """The partition's end offset; 0 (nothing to wait for) if the broker cannot say within `wait_s`,
    as while a just-created topic's partition has no leader yet (NOT_LEADER_FOR_PARTITION)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return consumer.get_watermark_offsets(partition, timeout=wait_s)[1]
        except KafkaException:
            if time.monotonic() >= deadline:
                return 0
            time.sleep(0.2)


def produce(bootstrap_servers: str, topic: str, records: Iterable[Tuple[Optional[bytes], bytes]],
            rate_per_s: Optional[float] = None) -> int:
    """Write records in order, at most `rate_per_s` a second when given; returns how many were written."""
    return produce_to(bootstrap_servers, ((topic, key, value) for key, value in records), rate_per_s)


def produce_to(bootstrap_servers: str, records: Iterable[Tuple[str, Optional[bytes], bytes]],
               rate_per_s: Optional[float] = None) -> int:
    """`produce` of (topic, key, value): several streams interleaved in one order, at one rate."""
    out = producer(bootstrap_servers)
    errors: List[str] = []
    started = time.monotonic()
    written = 0
    for topic, key, value in records:
        while True:
            try:
                out.produce(topic, value=value, key=key,
                            on_delivery=lambda err, _m: err is not None and errors.append(str(err)))
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                out.poll(0.05)
        written += 1
        if rate_per_s:
            ahead_s = written / rate_per_s - (time.monotonic() - started)
            if ahead_s > 0:
                out.poll(ahead_s)
        elif written % 10_000 == 0:
            out.poll(0)
    out.flush()
    if errors:
        raise KafkaException(f"{len(errors)} records not delivered: {errors[0]}")
    return written
