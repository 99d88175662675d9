"""The seed's Kafka Streams topology (`make bench`'s streaming peer) on a real broker: what it counts,
what it skips as malformed, and exactly which records its no-grace window drops.

Kafka Streams' rule (KStreamWindowAggregate, 4.1): a task's stream time is the largest timestamp it
has seen, this record's included; a record is dropped when its window's end is at or before stream
time minus the grace, here 0. With one input partition every record passes through one task of each
sub-topology in produce order, so the rule applied to the produce order is the exact expectation.
"""
import io
import random
from typing import Dict, List, Optional, Tuple

import fastavro

from kappa.benchmarks import kafka_streams
from kappa.io import kafka, orders, wire_format
from kappa.io.event_codec import Encoder, ValueFormat
from kappa.io.schema_registry import SchemaRegistry, schema_id
from tests import sockets

BASE_MS = 1_795_737_600_000  # a minute boundary, 2026-11-28T00:00:00Z
WINDOW_MS = 60_000
Order = Tuple[str, str, int]  # order id, region, event time in ms


def encoded(order: Order) -> Tuple[Optional[bytes], bytes]:
    order_id, region, event_ms = order
    value = Encoder(orders.SUBJECT, ValueFormat.AVRO)({"order_id": order_id, "region": region, "amount": 1.0,
                                                       "event_time": event_ms, "currency": "EUR",
                                                       "customer_id": None})
    return order_id.encode(), value


def encoded_v1(order: Order) -> Tuple[Optional[bytes], bytes]:
    """As a producer still on the subject's first version writes it."""
    order_id, region, event_ms = order
    v1 = SchemaRegistry().get(orders.SUBJECT, 1)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, v1, {"order_id": order_id, "region": region, "amount": 1.0, "event_time": event_ms})
    return order_id.encode(), wire_format.frame(schema_id(v1), body.getvalue())


def window_key(region: str, event_ms: int) -> str:
    return f"{region}:{event_ms - event_ms % WINDOW_MS}"


def record_counts(kept: List[Order]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for _, region, event_ms in kept:
        counts[window_key(region, event_ms)] = counts.get(window_key(region, event_ms), 0) + 1
    return counts


def no_grace_drops(stream: List[Order]) -> List[int]:
    """Positions of the records Kafka Streams drops: window end <= stream time (grace 0)."""
    stream_time, dropped = -1, []
    for position, (_, _, event_ms) in enumerate(stream):
        stream_time = max(stream_time, event_ms)
        if event_ms - event_ms % WINDOW_MS + WINDOW_MS <= stream_time:
            dropped.append(position)
    return dropped


def count(kafka_broker, tmp_path, name: str, records: List[Tuple[Optional[bytes], bytes]]):
    peer = kafka_streams.KafkaStreamsPeer(tmp_path / name, kafka_broker.bootstrap_servers, input_topic=f"{name}-orders",
                                     output_topic=f"{name}-counts", application_id=f"{name}-app", threads=1)
    _, counts, summary = kafka_streams.count_backlog(kafka_broker, peer, records, partitions=1)
    return counts, summary


def in_order(n: int, seed: int) -> List[Order]:
    """`n` orders in event-time order over a few minutes, every 25th redelivered right after itself."""
    rng = random.Random(seed)
    stream, event_ms = [], BASE_MS
    for i in range(n):
        event_ms += rng.randrange(0, 2_000)
        stream.append((f"order-{i}", rng.choice(["eu-west", "us-east", "ap-south"]), event_ms))
        if i % 25 == 0:
            stream.append(stream[-1])
    return stream


def test_in_order_every_window_is_exact_and_malformed_values_are_skipped(kafka_broker, tmp_path):
    stream = in_order(300, seed=11)
    good = [encoded(order) for order in stream[:150]] + [encoded_v1(order) for order in stream[150:]]
    _, truncated = encoded(("x", "eu-west", BASE_MS))
    malformed = [(None, b'{"order_id": "json is not read"}'), (None, wire_format.frame(12345, b"\x02x")),
                 (None, truncated[:9]), encoded(("y", "eu-west", -1)), encoded(("z", "eu-west", 2**62))]
    records = good[:100] + malformed + good[100:]

    counts, summary = count(kafka_broker, tmp_path, "in-order", records)

    assert len(stream) == 312 and no_grace_drops(stream) == []
    assert counts == record_counts(stream)  # redeliveries counted twice, as count() does
    assert len(counts) == 15  # 5 minutes, 3 regions
    assert summary == {"malformed": 5, "dropped_late": 0, "dropped_late_by_task": {"0_0": 0, "1_0": 0}}


OUT_OF_ORDER: List[Order] = [  # (order id, region, ms after BASE_MS)
    ("a", "eu", 10_000), ("b", "us", 70_000),
    ("c", "eu", 50_000),  # [0, 60 s) ended before stream time 70 s: dropped
    ("d", "us", 59_999),  # dropped, and its window gets no result at all
    ("e", "eu", 65_000), ("f", "eu", 120_000),
    ("g", "us", 60_000),  # [60 s, 120 s) ends at stream time exactly: dropped
    ("h", "eu", 119_999),  # dropped
    ("i", "us", 179_999), ("j", "eu", 125_000),  # late, but its window [120 s, 180 s) is still open
    ("k", "us", 300_000),
    ("l", "eu", 170_000),  # dropped
]


def test_a_record_whose_window_ended_at_or_before_stream_time_is_dropped(kafka_broker, tmp_path):
    stream = [(order_id, region, BASE_MS + offset_ms) for order_id, region, offset_ms in OUT_OF_ORDER]
    dropped = no_grace_drops(stream)
    kept = [order for position, order in enumerate(stream) if position not in dropped]

    counts, summary = count(kafka_broker, tmp_path, "out-of-order", [encoded(order) for order in stream])

    assert [stream[position][0] for position in dropped] == ["c", "d", "g", "h", "l"]
    assert counts == record_counts(kept) == {
        f"eu:{BASE_MS}": 1, f"us:{BASE_MS + 60_000}": 1, f"eu:{BASE_MS + 60_000}": 1,
        f"eu:{BASE_MS + 120_000}": 2, f"us:{BASE_MS + 120_000}": 1, f"us:{BASE_MS + 300_000}": 1}
    assert summary == {"malformed": 0, "dropped_late": 5, "dropped_late_by_task": {"0_0": 0, "1_0": 5}}


def test_the_peer_listens_on_no_socket(kafka_broker, tmp_path):
    """A Kafka client only: no interactive-queries server, no JMX port, nothing to keep on loopback."""
    peer = kafka_streams.KafkaStreamsPeer(tmp_path, kafka_broker.bootstrap_servers, input_topic="quiet-orders",
                                     output_topic="quiet-counts", application_id="quiet-app", threads=1)
    kafka.create_topic(kafka_broker.bootstrap_servers, peer.input_topic, 1)
    with peer:
        assert sockets.listening(peer.pids()) == []
