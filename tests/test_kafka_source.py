"""The Kafka source's reader, driven the way a runner drives a splittable DoFn, against a real broker."""
import json
import threading
import time
import uuid
from typing import List

from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.runners.sdf_utils import RestrictionTrackerView, ThreadsafeRestrictionTracker
from apache_beam.utils.timestamp import MIN_TIMESTAMP

from kappa.io import kafka
from kappa.transforms.lateness import BehindWatermark


def read_range(reader, start: int, stop: int, count: int, timeout_s: float = 30) -> List[int]:
    """Call the reader on [start, stop) until `count` records came back, resuming after each one read."""
    values: List[int] = []
    deadline = time.monotonic() + timeout_s
    while len(values) < count and time.monotonic() < deadline:
        tracker = RestrictionTrackerView(ThreadsafeRestrictionTracker(
            OffsetRestrictionTracker(OffsetRange(start + len(values), stop))))
        values += [stamped.value["n"] for stamped in reader.process(0, tracker=tracker,
                                                                     watermark=ManualWatermarkEstimator(MIN_TIMESTAMP))]
    return values


NUMBERS = kafka.InputStream(name="numbers", decode=lambda value, key, timestamp_ms: json.loads(value),
                             event_time_ms=lambda value: value["n"], too_late=BehindWatermark(10**9))


def test_a_restriction_split_mid_batch_resumes_at_its_first_unread_offset(kafka_broker):
    """A runner may split a partition's range while a fetched batch is half read (Dataflow does): the
    residual must start with the first record not yet claimed, not after the batch."""
    topic = f"split-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(kafka_broker.bootstrap_servers, topic, 1)
    kafka.produce(kafka_broker.bootstrap_servers, topic, ((None, json.dumps({"n": n}).encode()) for n in range(100)))
    source = kafka.KafkaSource(kafka_broker.bootstrap_servers, topic, start_from=kafka.StartFrom.EARLIEST)
    reader = kafka._ReadPartition(source, NUMBERS)
    reader.setup()
    try:
        first = read_range(reader, 0, 10, count=10)
        rest = read_range(reader, 10, kafka.END_OF_TIME, count=90)
    finally:
        reader.teardown()
    assert first + rest == list(range(100))


def test_a_read_that_catches_up_ends_without_waiting_out_max_read(kafka_broker):
    """Records and the watermark move on only when a read ends: a read that has caught up with its
    partition ends there, though records keep arriving and `max_read_ms` (ten minutes) is far off."""
    topic = f"caught-up-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(kafka_broker.bootstrap_servers, topic, 1)
    total = 300
    trickle = threading.Thread(target=kafka.produce, daemon=True, args=(
        kafka_broker.bootstrap_servers, topic, ((None, json.dumps({"n": n}).encode()) for n in range(total)), 100))
    source = kafka.KafkaSource(kafka_broker.bootstrap_servers, topic, start_from=kafka.StartFrom.EARLIEST,
                               max_read_ms=600_000)
    reader = kafka._ReadPartition(source, NUMBERS)
    reader.setup()
    try:
        trickle.start()
        first = read_range(reader, 0, kafka.END_OF_TIME, count=1)  # one call that read something
        rest = read_range(reader, len(first), kafka.END_OF_TIME, count=total - len(first))
    finally:
        trickle.join()
        reader.teardown()
    assert len(first) < total  # the first read did not go on for the whole 3 s trickle
    assert first + rest == list(range(total))
