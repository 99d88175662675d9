"""Kafka values: the Confluent wire format with registry ids, JSON, and the reasons bad values get."""
import json

import subprocess
import sys

import pytest
from apache_beam.internal import pickler

from kappa.io import wire_format
from kappa.io.event_codec import ArchiveToKafka, Decoder, Encoder, ValueFormat
from kappa.io.orders import DEFAULT_PARSER, InvalidRecord, Order, epoch_ms, order_from_json, order_from_mapping
from kappa.io.schema_registry import SchemaRegistry, schema_id

V1_ORDER = {"order_id": "o1", "region": "eu", "amount": 12.5, "event_time": 1_000}


def test_ids_are_fingerprints_that_never_change():
    registry = SchemaRegistry()
    # Pinned: a consumer elsewhere resolves these ids; changing the derivation would orphan every record.
    assert [schema_id(registry.get("order", v)) for v in (1, 2)] == [197952149, 1381588381]
    assert registry.by_id(197952149) == registry.get("order", 1)


def test_frame_is_magic_byte_then_big_endian_id():
    framed = wire_format.frame(0x01020304, b"body")
    assert framed == b"\x00\x01\x02\x03\x04body"
    writer_id, body = wire_format.unframe(framed)
    assert (writer_id, bytes(body)) == (0x01020304, b"body")


def test_a_v1_record_is_read_with_the_latest_schema(tmp_path):
    registry = SchemaRegistry()
    v1_codec = wire_format.WireCodec("order", registry)
    v1_codec._reader, v1_codec._reader_id = registry.get("order", 1), schema_id(registry.get("order", 1))
    data = v1_codec.encode_avro(V1_ORDER)
    assert data[1:5] == (197952149).to_bytes(4, "big")
    decoded = wire_format.WireCodec("order", registry).decode(data)
    assert decoded["currency"] == "EUR" and decoded["customer_id"] is None  # v2 defaults
    assert Decoder("order", DEFAULT_PARSER)(data) == Order("o1", "eu", 12.5, 1_000)


@pytest.mark.parametrize("version", [1, 2])
def test_timestamps_as_millis_give_what_full_resolution_gives(version):
    registry = SchemaRegistry()
    writer = wire_format.WireCodec("order", registry)
    writer._reader, writer._reader_id = registry.get("order", version), schema_id(registry.get("order", version))
    added_in_v2 = {"currency": "SEK", "customer_id": "c9"} if version == 2 else {}
    record = dict(V1_ORDER, event_time=1_795_737_600_091, **added_in_v2)
    data = writer.encode_avro(record)
    resolved = wire_format.WireCodec("order", registry).decode(data)
    resolved["event_time"] = epoch_ms(resolved["event_time"])
    as_millis = wire_format.WireCodec("order", registry, timestamps_as_millis=True).decode(data)
    assert list(as_millis.items()) == list(resolved.items())
    assert as_millis["event_time"] == 1_795_737_600_091


def test_a_timestamp_before_1970_is_refused_in_avro_as_in_json():
    before = dict(V1_ORDER, event_time=-1)
    for value in (Encoder("order", ValueFormat.AVRO)(before), json.dumps(before).encode()):
        assert Decoder("order", DEFAULT_PARSER)(value).error == (
            "event_time out of range: -1 is not in 0 .. 253402300799999 ms "
            "(1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z)")


def test_avro_and_json_values_decode_to_the_same_order():
    decode = Decoder("order", DEFAULT_PARSER)
    avro = Encoder("order", ValueFormat.AVRO)(V1_ORDER)
    assert decode(avro) == decode(json.dumps(V1_ORDER).encode()) == Order("o1", "eu", 12.5, 1_000)


@pytest.mark.parametrize("value,reason", [
    (None, "a null value (a tombstone): order is an event stream, not a changelog"),
    (b"", "empty record value"),
    (b"not json", "neither the Avro wire format nor JSON: Expecting value: line 1 column 1 (char 0)"),
    (b"[1, 2]", "expected a record, got list"),
    (b"\x00\x00\x00\x00\x07abc", "unknown schema id 7"),
    (b"\x00" + (197952149).to_bytes(4, "big"), "undecodable Avro body for schema id 197952149"),
    (b'{"order_id": "o", "region": "eu", "amount": 1}', "missing field event_time"),
])
def test_bad_values_become_dead_letters_with_the_reason(value, reason):
    dead = Decoder("order", DEFAULT_PARSER)(value)
    assert dead.record == value and dead.error.startswith(reason)


def test_archive_records_keep_their_key_and_malformed_ones_travel_as_they_are():
    to_kafka = ArchiveToKafka("order", order_from_json, "order_id", ValueFormat.AVRO)
    key, value = to_kafka(json.dumps(V1_ORDER))
    assert key == b"o1" and Decoder("order", DEFAULT_PARSER)(value) == Order("o1", "eu", 12.5, 1_000)
    assert to_kafka('{"region": "eu"}') == (None, b'{"region": "eu"}')
    with pytest.raises(InvalidRecord):
        order_from_json('{"region": "eu"}')


def test_a_decoder_shipped_to_a_fresh_worker_process_still_decodes():
    """Beam pickles the decoder (with dill) for each worker; a worker is a fresh interpreter, where the
    contract's compiled fast path must be rebuilt, not unpickled without its names (a v1 record needs
    the v2 defaults it holds)."""
    shipped = pickler.dumps(Decoder("order", DEFAULT_PARSER))
    v1 = wire_format.WireCodec("order")
    v1._reader, v1._reader_id = SchemaRegistry().get("order", 1), schema_id(SchemaRegistry().get("order", 1))
    worker = ("import sys; from apache_beam.internal import pickler; decode = pickler.loads(sys.stdin.buffer.read()); "
              f"print(tuple(decode({v1.encode_avro(V1_ORDER)!r})))")
    done = subprocess.run([sys.executable, "-c", worker], input=shipped, capture_output=True)
    assert (done.returncode, done.stdout.decode()) == (0, "('o1', 'eu', 12.5, 1000, 'EUR', None)\n"), done.stderr[-800:]
