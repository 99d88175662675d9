"""Debezium's PostgreSQL connector under Kafka Connect standalone (`kappa.services.kafka_connect`), against
the project's own PostgreSQL and Kafka broker: a table's snapshot, then its inserts, updates and deletes
(each delete followed by a tombstone), as the JSON converter writes them without schemas; the REST
interface on loopback only; and a restart that resumes after what it wrote."""
import collections
import json
import time
import uuid

from kappa.io import kafka
from kappa.services.kafka_connect import KafkaConnect
from kappa.services.process import free_port
from tests import sockets


def _changes(broker, topic: str, expected: int, timeout_s: float = 120) -> dict:
    """id -> [(op, before, after)] in topic order (op None for a tombstone), once `expected` records are in."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = list(kafka.consume(broker.bootstrap_servers, topic, idle_s=1))
        except ValueError:  # the topic is not there yet
            found = []
        if len(found) >= expected or time.monotonic() >= deadline:
            break
        time.sleep(1)
    by_id = collections.defaultdict(list)
    for record in sorted(found, key=lambda r: (r.partition, r.offset)):
        value = json.loads(record.value) if record.value is not None else None
        change = (None, None, None) if value is None else (value["op"], value["before"], value["after"])
        by_id[json.loads(record.key)["id"]].append(change)
    return dict(by_id)


def _row(id_, status):
    return {"id": id_, "status": status}


def test_a_table_is_captured_snapshot_first_then_each_change(postgres, kafka_broker, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    table = f"captured_{suffix}"
    with postgres.connect(autocommit=True) as connection:
        connection.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, status text NOT NULL)")
        connection.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
        connection.execute(f"INSERT INTO {table} VALUES (1, 'pending'), (2, 'pending')")
    connect = KafkaConnect(tmp_path / "connect", kafka_broker.bootstrap_servers, postgres.workdir, postgres.port,
                           tables=(f"public.{table}",), topic_prefix=f"cdc{suffix}", rest_port=free_port(),
                           slot=f"slot_{suffix}")
    topic = connect.topic(f"public.{table}")
    with connect:
        found = sockets.listening(connect.pids())
        assert connect.rest_port in [port for _, _, port, _ in found]
        assert [s for s in found if not sockets.is_loopback(s[1])] == []
        with postgres.connect(autocommit=True) as connection:
            connection.execute(f"UPDATE {table} SET status = 'paid' WHERE id = 1")
            connection.execute(f"DELETE FROM {table} WHERE id = 2")
        assert _changes(kafka_broker, topic, 5) == {
            1: [("r", None, _row(1, "pending")), ("u", _row(1, "pending"), _row(1, "paid"))],
            2: [("r", None, _row(2, "pending")), ("d", _row(2, "pending"), None), (None, None, None)],
        }
    with postgres.connect(autocommit=True) as connection:  # while Connect is down
        connection.execute(f"INSERT INTO {table} VALUES (3, 'pending')")
    with connect:  # resumes from its offsets and its slot: no second snapshot
        changes = _changes(kafka_broker, topic, 6)
    assert changes[3] == [("c", None, _row(3, "pending"))]
    assert [op for op, _, _ in changes[1]] == ["r", "u"]
