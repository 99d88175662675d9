import json

import fastavro
import pytest

from kappa.io.input_files import InputFile, RecordFormat
from kappa.io.readers import iter_records
from kappa.io.schema_registry import Compatibility, IncompatibleSchema, SchemaRegistry

V1 = {"type": "record", "name": "Order", "namespace": "kappa.events", "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "region", "type": "string"},
    {"name": "amount", "type": "double"},
    {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
]}


def evolve(*, add=(), drop=(), retype=None):
    fields = [f for f in V1["fields"] if f["name"] not in drop]
    if retype:
        fields = [dict(f, type=retype[f["name"]]) if f["name"] in retype else f for f in fields]
    return dict(V1, fields=fields + list(add))


@pytest.fixture
def registry(tmp_path):
    reg = SchemaRegistry(tmp_path / "schemas")
    reg.register("order", V1)
    return reg


WITH_DEFAULT = {"name": "currency", "type": "string", "default": "EUR"}
WITHOUT_DEFAULT = {"name": "currency", "type": "string"}


@pytest.mark.parametrize("mode,candidate,accepted", [
    (Compatibility.BACKWARD, evolve(add=[WITH_DEFAULT]), True),
    (Compatibility.FORWARD, evolve(add=[WITH_DEFAULT]), True),
    (Compatibility.FULL, evolve(add=[WITH_DEFAULT]), True),
    (Compatibility.BACKWARD, evolve(add=[WITHOUT_DEFAULT]), False),  # new reader lacks data for it
    (Compatibility.FORWARD, evolve(add=[WITHOUT_DEFAULT]), True),  # old readers ignore it
    (Compatibility.BACKWARD, evolve(drop=["amount"]), True),
    (Compatibility.FORWARD, evolve(drop=["amount"]), False),  # old readers need amount, no default
    (Compatibility.BACKWARD, evolve(retype={"amount": "float"}), False),  # double does not narrow
    (Compatibility.FORWARD, evolve(retype={"amount": "float"}), True),  # float promotes to double
    (Compatibility.BACKWARD, evolve(retype={"region": ["null", "string"]}), True),
    (Compatibility.FORWARD, evolve(retype={"region": ["null", "string"]}), False),  # null branch unreadable
    (Compatibility.NONE, evolve(retype={"amount": "boolean"}), True),
])
def test_compatibility_modes(registry, mode, candidate, accepted):
    registry.compatibility = mode
    assert (registry.check("order", candidate) == []) is accepted


def test_refusal_names_every_reason(registry):
    registry.compatibility = Compatibility.FULL
    problems = registry.check("order", evolve(add=[WITHOUT_DEFAULT], retype={"amount": "float"}))
    assert problems == [
        "BACKWARD vs v1: $.amount: writer type double cannot be read as float",
        "BACKWARD vs v1: $.currency: reader field is missing from the writer and has no default",
    ]


def test_register_numbers_versions_and_refuses_incompatible(registry, tmp_path):
    assert registry.register("order", evolve(add=[WITH_DEFAULT])) == 2
    assert registry.register("order", evolve(add=[WITH_DEFAULT])) == 2  # identical: not added again
    assert registry.versions("order") == [1, 2]
    assert json.loads((tmp_path / "schemas" / "order" / "v2.avsc").read_text())["fields"][-1] == WITH_DEFAULT
    with pytest.raises(IncompatibleSchema, match=r"order: BACKWARD vs v2: \$.region"):
        registry.register("order", evolve(add=[WITH_DEFAULT], retype={"region": "int"}))
    assert registry.versions("order") == [1, 2]


def test_transitive_checks_every_version(registry):
    registry.register("order", evolve(drop=["amount"]))  # v2 drops amount: fine BACKWARD
    readd = evolve(add=[])  # v3 brings amount back without a default: v2 data has none
    registry.compatibility = Compatibility.BACKWARD
    assert registry.check("order", readd) == ["BACKWARD vs v2: $.amount: reader field is missing from the "
                                              "writer and has no default"]
    registry.compatibility = Compatibility.BACKWARD_TRANSITIVE
    assert len(registry.check("order", readd)) == 1  # v1 has amount; only v2 fails


def test_shipped_order_v2_is_fully_compatible_with_v1(tmp_path):
    shipped = SchemaRegistry()
    assert shipped.versions("order") == [1, 2]
    only_v1 = SchemaRegistry(tmp_path, compatibility=Compatibility.FULL)
    only_v1.register("order", json.loads((shipped.root / "order" / "v1.avsc").read_text()))
    assert only_v1.check("order", json.loads((shipped.root / "order" / "v2.avsc").read_text())) == []


def test_old_writer_file_resolves_into_the_current_reader(tmp_path):
    registry = SchemaRegistry()
    path = tmp_path / "v1.avro"
    with open(path, "wb") as out:
        fastavro.writer(out, registry.get("order", 1), [
            {"order_id": "o1", "region": "eu", "amount": 12.5, "event_time": 60_000}])
    [(record, _)] = list(iter_records([InputFile(str(path), RecordFormat.AVRO)], registry.latest("order")))
    assert record["currency"] == "EUR" and record["customer_id"] is None
    assert (record["order_id"], record["region"], record["amount"]) == ("o1", "eu", 12.5)


def test_unresolvable_writer_file_becomes_one_dead_letter(tmp_path):
    registry = SchemaRegistry()
    other = {"type": "record", "name": "Payment", "fields": [{"name": "id", "type": "string"}]}
    path = tmp_path / "payments.avro"
    with open(path, "wb") as out:
        fastavro.writer(out, fastavro.parse_schema(other), [{"id": "p1"}])
    [(dead, origin)] = list(iter_records([InputFile(str(path), RecordFormat.AVRO)], registry.latest("order")))
    assert dead.record == origin == str(path)
    assert dead.error.startswith("unreadable Avro file: SchemaResolutionError")
