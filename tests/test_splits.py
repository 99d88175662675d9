"""File splits: however a file is cut, every record is read exactly once, and a broken file once."""
import json

import fastavro
import pytest

from kappa.io import readers
from kappa.io.dead_letter import DeadLetter
from kappa.io.input_files import InputFile, RecordFormat
from kappa.io.orders import Order, OrderParser, epoch_ms
from kappa.io.schema_compat import trailing_defaults
from kappa.io.schema_registry import SchemaRegistry
from kappa.io.splits import FileSplit, plan_splits

REGISTRY = SchemaRegistry()
READER = REGISTRY.latest("order")
ORDERS = [{"order_id": f"o{i}", "region": "eu", "amount": float(i), "event_time": i * 1000} for i in range(500)]
PARSER = OrderParser()


def resolved_by_fastavro(fileobj) -> list:
    """fastavro's own resolution into READER, its datetimes as the epoch milliseconds kappa reads."""
    return [dict(record, event_time=epoch_ms(record["event_time"]))
            for record in fastavro.reader(fileobj, reader_schema=READER)]


def raw_records(path, fmt=RecordFormat.AVRO):
    return [raw for raw, _ in readers.iter_records([InputFile(str(path), fmt)], READER)]


def read_in_splits(path, fmt, split_bytes):
    """(valid orders, dead letters) of the file read split by split."""
    valid, dead_letters = [], []
    for split in plan_splits([InputFile(str(path), fmt)], split_bytes):
        valid += readers.read_split(split, PARSER, READER, dead_letters)
    return valid, dead_letters


def as_order(record: dict) -> Order:
    return Order(record["order_id"], record["region"], record["amount"], record["event_time"])


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
    splits = plan_splits([InputFile(str(tmp_path / n), RecordFormat.JSONL) for n in sizes], 300)
    for name, size in sizes.items():
        mine = [s for s in splits if s.path == str(tmp_path / name)]
        assert mine[0].start == 0 and mine[-1].end == size
        assert all(a.end == b.start for a, b in zip(mine, mine[1:]))
    assert [len([s for s in splits if s.path.endswith(n)]) for n in sizes] == [1, 3, 1]


def test_a_gzip_file_is_one_split(tmp_path):
    (tmp_path / "a.jsonl.gz").write_bytes(b"x" * 1000)
    assert plan_splits([InputFile(str(tmp_path / "a.jsonl.gz"), RecordFormat.JSONL, gzip=True)], 300) == [
        FileSplit(InputFile(str(tmp_path / "a.jsonl.gz"), RecordFormat.JSONL, gzip=True), 0, 1000)]


@pytest.mark.parametrize("split_bytes", [1, 7, 16, 17, 100, 450, 4096, 1 << 20])
def test_avro_splits_read_every_record_once(avro_file, split_bytes):
    with open(avro_file, "rb") as fileobj:
        whole = resolved_by_fastavro(fileobj)
    assert read_in_splits(avro_file, RecordFormat.AVRO, split_bytes) == ([as_order(r) for r in whole], [])
    assert raw_records(avro_file) == whole
    assert [list(r) for r in whole[:1]] == [["order_id", "region", "amount", "event_time", "currency", "customer_id"]]


@pytest.mark.parametrize("split_bytes", [1, 2, 5, 13, 64, 1 << 20])
def test_jsonl_splits_read_every_line_once(tmp_path, split_bytes):
    path = tmp_path / "orders.jsonl"
    lines = [json.dumps(o) for o in ORDERS[:40]] + ["", "not json", "{}"]
    data = ("\r\n".join(lines[:20]) + "\n" + "\n".join(lines[20:])).encode()  # no final newline
    path.write_bytes(data)
    offsets = [data.index(b"\nnot json"), data.index(b"\nnot json") + 1, data.index(b"\n{}") + 1]
    assert read_in_splits(path, RecordFormat.JSONL, split_bytes) == ([Order(**o) for o in ORDERS[:40]], [
        DeadLetter(b"", "bad JSON: Expecting value: line 1 column 1 (char 0)", f"{path}@{offsets[0]}"),
        DeadLetter(b"not json", "bad JSON: Expecting value: line 1 column 1 (char 0)", f"{path}@{offsets[1]}"),
        DeadLetter(b"{}", "missing field order_id", f"{path}@{offsets[2]}"),
    ])


def test_unreadable_avro_file_is_one_dead_letter_however_split(tmp_path):
    path = tmp_path / "broken.avro"
    path.write_bytes(b"not an avro file at all" * 10)
    valid, [dead] = read_in_splits(path, RecordFormat.AVRO, 16)
    assert valid == [] and dead.record == str(path) and dead.origin == str(path)
    assert dead.error.startswith("unreadable Avro file")


def test_unresolvable_avro_file_is_one_dead_letter_however_split(tmp_path):
    path = tmp_path / "payments.avro"
    other = {"type": "record", "name": "Payment", "fields": [{"name": "id", "type": "string"}]}
    with open(path, "wb") as out:
        fastavro.writer(out, fastavro.parse_schema(other), [{"id": f"p{i}"} for i in range(3000)], sync_interval=200)
    for split_bytes in (500, 1 << 20):
        valid, [dead] = read_in_splits(path, RecordFormat.AVRO, split_bytes)
        assert valid == [] and dead.record == str(path) and dead.origin == str(path)
        assert dead.error.startswith("unreadable Avro file: SchemaResolutionError")


def test_truncated_avro_file_keeps_what_it_can_and_reports_once(avro_file, tmp_path):
    path = tmp_path / "truncated.avro"
    data = avro_file.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with open(avro_file, "rb") as fileobj:
        whole = [as_order(r) for r in resolved_by_fastavro(fileobj)]
    for split_bytes in (50, 1 << 20):
        valid, [dead] = read_in_splits(path, RecordFormat.AVRO, split_bytes)
        assert dead.record == str(path) and dead.origin.startswith(f"{path}@")
        assert valid == whole[: len(valid)]  # the blocks before the cut, in order
        assert 200 < len(valid) < 400


def test_first_split_is_the_one_at_zero():
    file = InputFile("f", RecordFormat.JSONL)
    assert FileSplit(file, 0, 10).first and not FileSplit(file, 10, 20).first


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


def test_a_file_read_with_trailing_defaults_equals_full_resolution(tmp_path):
    path = tmp_path / "v1.avro"
    with open(path, "wb") as out:
        fastavro.writer(out, REGISTRY.get("order", 1), ORDERS[:3])
    with open(path, "rb") as fileobj:
        resolved = resolved_by_fastavro(fileobj)
    fast = raw_records(path)
    assert fast == resolved and [list(r) for r in fast] == [list(r) for r in resolved]


def test_a_file_that_needs_full_resolution_equals_fastavros(tmp_path):
    v1 = REGISTRY.get("order", 1)
    reordered = fastavro.parse_schema(dict(v1, fields=list(reversed(v1["fields"]))))
    assert trailing_defaults(reordered, READER) is None
    path = tmp_path / "reordered.avro"
    with open(path, "wb") as out:
        fastavro.writer(out, reordered, ORDERS[:3])
    with open(path, "rb") as fileobj:
        resolved = resolved_by_fastavro(fileobj)
    read = raw_records(path)
    assert read == resolved and [list(r) for r in read] == [list(r) for r in resolved]
