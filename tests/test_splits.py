"""File splits: however a file is cut, every record is read exactly once, and a broken file once."""
import io
import json

import fastavro
import pytest

from kappa.io import readers
from kappa.io.orders import epoch_ms
from kappa.io.schema_compat import trailing_defaults
from kappa.io.schema_registry import SchemaRegistry
from kappa.io.splits import FileSplit, plan_splits

REGISTRY = SchemaRegistry()
READER = REGISTRY.latest("order")
ORDERS = [{"order_id": f"o{i}", "region": "eu", "amount": float(i), "event_time": i * 1000} for i in range(500)]


def resolved_by_fastavro(fileobj) -> list:
    """fastavro's own resolution into READER, its datetimes as the epoch milliseconds kappa reads."""
    return [dict(record, event_time=epoch_ms(record["event_time"]))
            for record in fastavro.reader(fileobj, reader_schema=READER)]


def read_in_splits(path, fmt, split_bytes):
    return [record for split in plan_splits([str(path)], split_bytes)
            for record in readers.split_records(split, fmt, READER)]


@pytest.fixture(scope="module")
def avro_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("avro") / "orders.avro"
    with open(path, "wb") as out:  # many small blocks, so splits fall inside and between them
        fastavro.writer(out, REGISTRY.get("order", 1), ORDERS, codec="deflate", sync_interval=300)
    return path


def test_plan_covers_each_file_without_gaps(tmp_path):
    sizes = {"a": 10, "b": 1000, "c": 0}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"x" * size)
    splits = plan_splits([str(tmp_path / n) for n in sizes], 300)
    for name, size in sizes.items():
        mine = [s for s in splits if s.path == str(tmp_path / name)]
        assert mine[0].start == 0 and mine[-1].end == size
        assert all(a.end == b.start for a, b in zip(mine, mine[1:]))
    assert [len([s for s in splits if s.path.endswith(n)]) for n in sizes] == [1, 3, 1]


@pytest.mark.parametrize("split_bytes", [1, 7, 16, 17, 100, 450, 4096, 1 << 20])
def test_avro_splits_read_every_record_once(avro_file, split_bytes):
    with open(avro_file, "rb") as fileobj:
        whole = resolved_by_fastavro(fileobj)
    assert read_in_splits(avro_file, readers.RecordFormat.AVRO, split_bytes) == whole
    assert [list(r) for r in whole[:1]] == [["order_id", "region", "amount", "event_time", "currency", "customer_id"]]


@pytest.mark.parametrize("split_bytes", [1, 2, 5, 13, 64, 1 << 20])
def test_jsonl_splits_read_every_line_once(tmp_path, split_bytes):
    path = tmp_path / "orders.jsonl"
    lines = [json.dumps(o) for o in ORDERS[:40]] + ["", "not json", "{}"]
    path.write_bytes(("\r\n".join(lines[:20]) + "\n" + "\n".join(lines[20:])).encode())  # no final newline
    assert read_in_splits(path, readers.RecordFormat.JSONL, split_bytes) == lines


def test_unreadable_avro_file_is_one_dead_letter_however_split(tmp_path):
    path = tmp_path / "broken.avro"
    path.write_bytes(b"not an avro file at all" * 10)
    [dead] = read_in_splits(path, readers.RecordFormat.AVRO, 16)
    assert dead.record == str(path) and dead.error.startswith("unreadable Avro file")


def test_unresolvable_avro_file_is_one_dead_letter_however_split(tmp_path):
    path = tmp_path / "payments.avro"
    other = {"type": "record", "name": "Payment", "fields": [{"name": "id", "type": "string"}]}
    with open(path, "wb") as out:
        fastavro.writer(out, fastavro.parse_schema(other), [{"id": f"p{i}"} for i in range(3000)], sync_interval=200)
    for split_bytes in (500, 1 << 20):
        [dead] = read_in_splits(path, readers.RecordFormat.AVRO, split_bytes)
        assert dead.record == str(path) and dead.error.startswith("unreadable Avro file: SchemaResolutionError")


def test_truncated_avro_file_keeps_what_it_can_and_reports_once(avro_file, tmp_path):
    path = tmp_path / "truncated.avro"
    data = avro_file.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with open(avro_file, "rb") as fileobj:
        whole = resolved_by_fastavro(fileobj)
    for split_bytes in (50, 1 << 20):
        records = read_in_splits(path, readers.RecordFormat.AVRO, split_bytes)
        dead = [r for r in records if isinstance(r, readers.DeadLetter)]
        assert len(dead) == 1 and dead[0].record == str(path)
        assert records[:-1] == whole[: len(records) - 1]  # the blocks before the cut, in order
        assert 200 < len(records) < 400


def test_first_split_is_the_one_at_zero():
    assert FileSplit("f", 0, 10).first and not FileSplit("f", 10, 20).first


def test_trailing_defaults_only_where_resolution_just_appends_them():
    v1, v2 = REGISTRY.get("order", 1), REGISTRY.get("order", 2)
    assert trailing_defaults(fastavro.parse_schema(v1), READER) == {"currency": "EUR", "customer_id": None}
    assert trailing_defaults(fastavro.parse_schema(v2), READER) == {}
    retyped = dict(v1, fields=[dict(f, type="float") if f["name"] == "amount" else f for f in v1["fields"]])
    reordered = dict(v1, fields=list(reversed(v1["fields"])))
    renamed = dict(v1, name="kappa.events.Refund")
    no_default = dict(READER, fields=[{k: v for k, v in f.items() if k != "default"} for f in READER["fields"]])
    for writer, reader in ((retyped, READER), (reordered, READER), (renamed, READER), (v1, no_default)):
        assert trailing_defaults(fastavro.parse_schema(writer), fastavro.parse_schema(reader)) is None


def test_a_file_read_with_trailing_defaults_equals_full_resolution():
    buffer = io.BytesIO()
    fastavro.writer(buffer, REGISTRY.get("order", 1), ORDERS[:3])
    buffer.seek(0)
    resolved = resolved_by_fastavro(buffer)
    buffer.seek(0)
    fast = list(readers.avro_records(buffer, "v1.avro", READER))
    assert fast == resolved and [list(r) for r in fast] == [list(r) for r in resolved]


def test_a_file_that_needs_full_resolution_equals_fastavros():
    v1 = REGISTRY.get("order", 1)
    reordered = fastavro.parse_schema(dict(v1, fields=list(reversed(v1["fields"]))))
    assert trailing_defaults(reordered, READER) is None
    buffer = io.BytesIO()
    fastavro.writer(buffer, reordered, ORDERS[:3])
    buffer.seek(0)
    resolved = resolved_by_fastavro(buffer)
    buffer.seek(0)
    read = list(readers.avro_records(buffer, "reordered.avro", READER))
    assert read == resolved and [list(r) for r in read] == [list(r) for r in resolved]
