"""Event contracts derived from the schemas: a bad-record corpus generated from every contract's schema
versions and rules, each record with its exact outcome; the record types; what a contract refuses to be
built from."""
import datetime
import json
import math
import pickle
import re
from typing import Optional

import apache_beam as beam
import fastavro
import pytest
from apache_beam.internal import pickler

from kappa.io import orders
from kappa.io.contracts import InvalidContract, InvalidRecord, contract
from kappa.io.input_files import select_inputs
from kappa.io.readers import iter_records, read_split
from kappa.io.schema_registry import SchemaRegistry
from kappa.io.splits import plan_splits

T0 = 1_795_737_600_000  # 2026-11-27T00:00Z
NOW_MS = T0  # every parser here reads this clock
HOUR_MS = 3_600_000
MAX_MS = 253_402_300_799_999
EVENT_TIME_RANGE = "0 .. 253402300799999 ms (1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z)"
SUBJECTS = ("order", "payment", "device", "heartbeat", "ride-request", "driver-location")  # all with rules.json
REGISTRY = SchemaRegistry()

# A contract with every supported type, written to a registry of the test's own.
READING_SCHEMA = {"type": "record", "name": "Reading", "namespace": "kappa.test", "fields": [
    {"name": "sensor", "type": "string"},
    {"name": "count", "type": "long"},
    {"name": "small", "type": "int"},
    {"name": "ratio", "type": "float"},
    {"name": "ok", "type": "boolean"},
    {"name": "timing", "type": {"type": "enum", "name": "Timing", "symbols": ["EARLY", "ON_TIME", "LATE"]}},
    {"name": "nickname", "type": ["null", "string"]},
    {"name": "weight", "type": "double"},
    {"name": "seen", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "written", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "site", "type": "string", "default": "main"},
]}
READING_RULES = {"sensor": ["non-empty"], "count": ["positive"], "nickname": ["non-empty"], "weight": ["positive"],
                 "seen": ["event-time"]}


@pytest.fixture(scope="module")
def test_registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    (root / "reading").mkdir()
    (root / "reading" / "v1.avsc").write_text(json.dumps(READING_SCHEMA))
    (root / "reading" / "rules.json").write_text(json.dumps(READING_RULES))
    return SchemaRegistry(root)


def schemas(subject):
    """(version, schema JSON) of every version: the corpus is generated from the files, not the contract."""
    return [(v, json.loads((REGISTRY.root / subject / f"v{v}.avsc").read_text())) for v in REGISTRY.versions(subject)]


def rules_of(subject):
    return json.loads((REGISTRY.root / subject / "rules.json").read_text())


# ---------------------------------------------------------------------------------------------------
# The corpus: from a version's fields, each field's type and rules, a valid record and the ways to break it
# ---------------------------------------------------------------------------------------------------

def avro_type(field):
    """(type name, nullable) of a field as the corpus knows the types."""
    kind = field["type"]
    nullable = isinstance(kind, list)
    if nullable:
        kind = next(branch for branch in kind if branch != "null")
    if isinstance(kind, dict):
        kind = kind.get("logicalType") or kind["type"]
    return kind, nullable


def valid_value(field, rules):
    kind, _ = avro_type(field)
    if kind == "string":
        return "FR" if "country-code" in rules else f"{field['name']}-1"
    if kind == "enum":
        return field["type"]["symbols"][0]
    return {"double": 12.5, "float": 0.5, "long": 7, "int": -7, "boolean": True, "timestamp-millis": T0}[kind]


def wrong_types(name, kind, field):
    """(label, value, message) for values of a wrong type, or out of the type's range."""
    cases = {
        "string": [("int", 7, f"field {name} must be a string, got int")],
        "double": [("str", "12.5", f"field {name} must be a number, got str"),
                   ("bool", True, f"field {name} must be a number, got bool"),
                   ("huge-int", 10 ** 400, f"field {name} must be finite, got an integer too large for a double"),
                   ("nan", math.nan, f"field {name} must be finite, got nan"),
                   ("inf", -math.inf, f"field {name} must be finite, got -inf")],
        "long": [("float", 1.5, f"field {name} must be an integer, got float"),
                 ("bool", False, f"field {name} must be an integer, got bool"),
                 ("above-range", 2 ** 63,
                  f"{name} out of range: 9223372036854775808 is not in -9223372036854775808 .. 9223372036854775807")],
        "int": [("str", "7", f"field {name} must be an integer, got str"),
                ("above-range", 2 ** 31, f"{name} out of range: 2147483648 is not in -2147483648 .. 2147483647"),
                ("below-range", -2 ** 31 - 1, f"{name} out of range: -2147483649 is not in -2147483648 .. 2147483647")],
        "boolean": [("int", 1, f"field {name} must be a boolean, got int"),
                    ("str", "true", f"field {name} must be a boolean, got str")],
        "timestamp-millis": [
            ("str", "1700000000000", f"field {name} must be integer epoch milliseconds, got str"),
            ("float", 1.5e12, f"field {name} must be integer epoch milliseconds, got float"),
            ("bool", True, f"field {name} must be integer epoch milliseconds, got bool"),
            ("below-range", -1, f"{name} out of range: -1 is not in {EVENT_TIME_RANGE}"),
            ("above-range", MAX_MS + 1, f"{name} out of range: 253402300800000 is not in {EVENT_TIME_RANGE}")],
    }
    cases["float"] = cases["double"]
    if kind == "enum":
        symbols = ", ".join(field["type"]["symbols"])
        return [("int", 1, f"field {name} must be a string, got int"),
                ("non-symbol", "SOON", f"field {name} must be one of {symbols}, got 'SOON'"),
                ("case-changed-symbol", field["type"]["symbols"][0].swapcase(),
                 f"field {name} must be one of {symbols}, got {field['type']['symbols'][0].swapcase()!r}")]
    return cases[kind]


def violations(name, kind, rule):
    """(label, value, message) breaking one rule."""
    if rule == "non-empty":
        return [("empty", "", f"field {name} is empty"), ("whitespace", " \t ", f"field {name} is empty"),
                ("zero-width-space", "a\u200bb", f"field {name} contains an invisible character U+200B"),
                ("line-separator", "a\u2028b", f"field {name} contains an invisible character U+2028"),
                ("control", "a\x07b", f"field {name} contains an invisible character U+0007"),
                ("unpaired-surrogate", "a\ud800", f"field {name} contains an unpaired surrogate U+D800")]
    if rule == "positive":
        if kind in ("double", "float"):
            return [("zero", 0, f"field {name} must be positive, got 0.0"),
                    ("minus-one", -1, f"field {name} must be positive, got -1.0"),
                    ("nan", math.nan, f"field {name} must be finite, got nan"),
                    ("inf", math.inf, f"field {name} must be finite, got inf")]
        return [("zero", 0, f"field {name} must be positive, got 0"),
                ("minus-one", -1, f"field {name} must be positive, got -1"),
                ("nan", math.nan, f"field {name} must be an integer, got float"),
                ("inf", math.inf, f"field {name} must be an integer, got float")]
    if rule == "country-code":
        return [(label, value, f"field {name} must be two upper-case letters A-Z, got {value!r}")
                for label, value in (("lower-case", "fr"), ("three-letters", "FRA"), ("digit", "F1"), ("empty", ""),
                                     ("padded", " FR"), ("non-ascii", "FÉ"))]
    if rule == "event-time":
        return [("too-far-ahead", NOW_MS + HOUR_MS + 1,
                 f"{name} too far ahead: more than 1h after the wall clock when read")]
    raise AssertionError(f"the corpus knows no rule {rule}")


def corpus(subject, versions, rules):
    """(case id, record, expected) for every version: expected is the record's values (a dict of the
    latest version's fields) or the exact InvalidRecord message."""
    latest = versions[-1][1]["fields"]
    defaults = {f["name"]: f["default"] for f in latest if "default" in f}
    cases = []
    for version, schema in versions:
        fields = schema["fields"]
        base = {f["name"]: valid_value(f, rules.get(f["name"], [])) for f in fields}

        def case(what, record, expected, version=version):
            if isinstance(expected, dict):
                expected = {f["name"]: expected[f["name"]] for f in latest}
            cases.append((f"{subject}-v{version}-{what}", record, expected))

        case("valid", base, {**defaults, **base})
        for field in fields:
            name, field_rules = field["name"], rules.get(field["name"], [])
            assert len(field_rules) <= 1, "a value breaking two rules at once would need an order to expect"
            kind, nullable = avro_type(field)
            without = {k: v for k, v in base.items() if k != name}
            has_default = name in defaults
            case(f"{name}-missing", without,
                 {**base, name: defaults[name]} if has_default else f"missing field {name}")
            case(f"{name}-null", {**base, name: None},
                 {**base, name: None} if nullable else {**base, name: defaults[name]} if has_default
                 else f"missing field {name}")
            for label, value, message in wrong_types(name, kind, field):
                case(f"{name}-{label}", {**base, name: value}, message)
            for rule in field_rules:
                for label, value, message in violations(name, kind, rule):
                    case(f"{name}-{rule}-{label}", {**base, name: value}, message)
                if rule == "non-empty":
                    case(f"{name}-stripped", {**base, name: f" {base[name]}\n"}, {**defaults, **base})
                    case(f"{name}-nfc", {**base, name: "e\u0301"}, {**defaults, **base, name: "\u00e9"})
                if rule == "event-time":
                    latest_ms = NOW_MS + HOUR_MS
                    case(f"{name}-within-skew", {**base, name: latest_ms}, {**defaults, **base, name: latest_ms})
            if kind in ("double", "float"):
                case(f"{name}-int", {**base, name: 3}, {**defaults, **base, name: 3.0})
        case("unknown-field-ignored", {**base, "colour": [1, 2]}, {**defaults, **base})
    return cases


CORPUS = [case for subject in SUBJECTS for case in corpus(subject, schemas(subject), rules_of(subject))]


def subject_of(case_id):
    """The subject a corpus case id starts with, before its `-v<N>-`: subjects have dashes too."""
    return re.match(r"(.+?)-v\d+-", case_id).group(1)


def clock():
    return NOW_MS / 1000


def parser_of(subject, registry=None):
    return contract(subject, registry).parser(clock=clock)


def outcome(parse, raw):
    """The parsed record's values with their types, or the exact refusal."""
    try:
        record = parse(raw)
    except InvalidRecord as err:
        return str(err)
    return [(type(value), value) for value in record]


def expected_outcome(subject_contract, expected):
    if isinstance(expected, str):
        return expected
    return [(type(expected[name]), expected[name]) for name in subject_contract.fields]


@pytest.mark.parametrize("case_id,record,expected", CORPUS, ids=[case[0] for case in CORPUS])
def test_corpus(case_id, record, expected):
    parser = parser_of(subject_of(case_id))
    want = expected_outcome(parser.contract, expected)
    assert outcome(parser.from_mapping, record) == want
    assert outcome(parser.from_json, json.dumps(record)) == want  # NaN and Infinity as Python's json writes them
    assert outcome(parser.parse, json.dumps(record).encode()) == want


def test_corpus_of_a_contract_with_every_type(test_registry):
    cases = corpus("reading", [(1, READING_SCHEMA)], READING_RULES)
    parser = parser_of("reading", test_registry)
    outcomes = {case_id: outcome(parser.from_mapping, record) for case_id, record, _ in cases}
    assert outcomes == {case_id: expected_outcome(parser.contract, expected) for case_id, _, expected in cases}
    assert len(cases) == 86
    assert outcomes["reading-v1-timing-non-symbol"] == "field timing must be one of EARLY, ON_TIME, LATE, got 'SOON'"
    assert outcomes["reading-v1-nickname-missing"] == "missing field nickname"


def test_the_corpus_covers_every_field_of_every_version():
    ids = [case[0] for case in CORPUS]
    assert len(ids) == len(set(ids)) == 423
    assert [i for i in ids if i.startswith("driver-location-v1-status")] == [
        "driver-location-v1-status-missing", "driver-location-v1-status-null", "driver-location-v1-status-int",
        "driver-location-v1-status-non-symbol", "driver-location-v1-status-case-changed-symbol"]
    assert [i for i in ids if i.startswith("payment-v1-amount")] == [
        "payment-v1-amount-missing", "payment-v1-amount-null", "payment-v1-amount-str", "payment-v1-amount-bool",
        "payment-v1-amount-huge-int", "payment-v1-amount-nan", "payment-v1-amount-inf",
        "payment-v1-amount-positive-zero", "payment-v1-amount-positive-minus-one", "payment-v1-amount-positive-nan",
        "payment-v1-amount-positive-inf", "payment-v1-amount-int"]


def test_the_corpus_covers_every_subject_with_rules():
    assert sorted(SUBJECTS) == sorted(s for s in REGISTRY.subjects() if (REGISTRY.root / s / "rules.json").exists())


def test_old_records_get_the_new_versions_defaults():
    assert parser_of("order").from_mapping({"order_id": "o1", "region": "eu", "amount": 1.0, "event_time": T0}) == (
        "o1", "eu", 1.0, T0, "EUR", None)
    assert parser_of("payment").from_json(json.dumps(
        {"payment_id": "p1", "account_id": "a1", "device_id": "d1", "amount": 9.5, "country": "SE", "event_time": T0}
    )) == ("p1", "a1", "d1", 9.5, "SE", T0, None)
    assert parser_of("device").from_mapping(
        {"device_id": "d1", "account_id": "a1", "ip_country": "DE", "event_time": T0}) == ("d1", "a1", "DE", T0, None)


def test_an_aware_datetime_is_converted_exactly_and_a_naive_one_refused():
    parser = parser_of("device")
    record = {"device_id": "d1", "account_id": "a1", "ip_country": "DE"}
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    aware = datetime.datetime(2026, 11, 27, 2, 0, 0, 1999, tzinfo=plus_two)
    assert parser.from_mapping({**record, "event_time": aware}).event_time == T0 + 1
    with pytest.raises(InvalidRecord) as err:
        parser.from_mapping({**record, "event_time": datetime.datetime(2026, 11, 27)})
    assert str(err.value) == "field event_time must be integer epoch milliseconds, got a datetime without a time zone"


def test_only_a_json_line_or_a_mapping_is_a_raw_record():
    with pytest.raises(InvalidRecord) as err:
        parser_of("payment").parse(["p1"])
    assert str(err.value) == "expected a JSON line or a record, got list"


def write_v1_archive(path, subject):
    version, v1 = schemas(subject)[0]
    assert version == 1
    rules = rules_of(subject)
    records = [{f["name"]: valid_value(f, rules.get(f["name"], [])) for f in v1["fields"]} for _ in range(3)]
    for i, record in enumerate(records):
        record[v1["fields"][0]["name"]] = f"id-{i}"
    with open(path, "wb") as out:
        fastavro.writer(out, fastavro.parse_schema(v1), records)
    return records


@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("read", ["fastavro-resolved", "kappa-readers"])
def test_an_avro_archive_written_with_v1_reads_into_the_latest_record_type(tmp_path, subject, read):
    path = tmp_path / f"{subject}.avro"
    written = write_v1_archive(path, subject)
    latest = REGISTRY.latest(subject)
    if read == "fastavro-resolved":  # timestamp-millis as aware datetimes
        with open(path, "rb") as archive:
            raw = list(fastavro.reader(archive, reader_schema=latest))
    else:  # as a backfill reads: epoch milliseconds, the new fields' defaults appended
        raw = [record for record, _ in iter_records(select_inputs(str(path)).files, latest)]
    subject_contract = contract(subject)
    parsed = [parser_of(subject).parse(record) for record in raw]
    added = {"order": ("EUR", None), "payment": (None,), "device": (None,), "heartbeat": (), "ride-request": (),
             "driver-location": ()}[subject]
    assert parsed == [subject_contract.record_type(*record.values(), *added) for record in written]
    assert {type(record) for record in parsed} == {subject_contract.record_type}


# ---------------------------------------------------------------------------------------------------
# Record types
# ---------------------------------------------------------------------------------------------------

RECORD_TYPES = {
    "order": ("Order", {"order_id": str, "region": str, "amount": float, "event_time": int, "currency": str,
                        "customer_id": Optional[str]}, {"currency": "EUR", "customer_id": None},
              ("o1", "eu-west", 12.5, T0, "SEK", "c9")),
    "payment": ("Payment", {"payment_id": str, "account_id": str, "device_id": str, "amount": float, "country": str,
                            "event_time": int, "merchant_id": Optional[str]}, {"merchant_id": None},
                ("p1", "a1", "d1", 9.5, "SE", T0, "m1")),
    "device": ("Device", {"device_id": str, "account_id": str, "ip_country": str, "event_time": int,
                          "user_agent": Optional[str]}, {"user_agent": None},
               ("d1", "a1", "DE", T0, "curl/8")),
    "heartbeat": ("Heartbeat", {"viewer_id": str, "show_id": str, "event_time": int}, {}, ("v1", "s1", T0)),
    "ride-request": ("RideRequest", {"request_id": str, "rider_id": str, "cell": str, "event_time": int}, {},
                     ("r1", "u1", "c-042", T0)),
    "driver-location": ("DriverLocation", {"driver_id": str, "cell": str, "status": str, "event_time": int}, {},
                        ("d1", "c-042", "busy", T0)),
}
# (subject, "set" or "null"): a subject whose last field is optional also round-trips with it null
ROUND_TRIPS = [(subject, "set") for subject in SUBJECTS] + [
    (subject, "null") for subject in SUBJECTS if list(RECORD_TYPES[subject][1].values())[-1] == Optional[str]]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_record_type_fields_annotations_and_defaults(subject):
    name, annotations, defaults, _ = RECORD_TYPES[subject]
    subject_contract = contract(subject)
    record_type = subject_contract.record_type
    assert (record_type.__name__, record_type.__module__, record_type.__qualname__) == (
        name, "kappa.io.record_types", subject)
    assert record_type._fields == subject_contract.fields == tuple(annotations)
    assert record_type.__annotations__ == annotations
    assert record_type._field_defaults == defaults
    assert subject_contract.event_time_field == "event_time"
    assert subject_contract.schema == REGISTRY.latest(subject)
    assert contract(subject) is subject_contract  # built once per process


def test_order_is_the_order_contracts_record_type():
    assert orders.Order is contract("order").record_type
    assert repr(orders.Order("o1", "eu", 1.0, T0)) == (
        "Order(order_id='o1', region='eu', amount=1.0, event_time=1795737600000, currency='EUR', customer_id=None)")


@pytest.mark.parametrize("subject,optional", ROUND_TRIPS, ids=[f"{s}-{o}" for s, o in ROUND_TRIPS])
def test_record_type_round_trips_through_its_row_coder(subject, optional):
    record_type = contract(subject).record_type
    values = RECORD_TYPES[subject][3]
    record = record_type(*values[:-1], values[-1] if optional == "set" else None)
    coder = beam.coders.registry.get_coder(record_type)
    assert isinstance(coder, beam.coders.RowCoder)
    decoded = coder.decode(coder.encode(record))
    assert (decoded._fields, tuple(decoded)) == (record._fields, tuple(record))


def test_a_contract_with_every_type_has_a_record_type_and_row_coder(test_registry):
    reading = contract("reading", test_registry)
    record_type = reading.record_type
    assert (record_type.__name__, record_type.__module__, record_type.__qualname__) == (
        "Reading", "kappa.io.contracts", "Reading")
    assert record_type.__annotations__ == {
        "sensor": str, "count": int, "small": int, "ratio": float, "ok": bool, "timing": str,
        "nickname": Optional[str], "weight": float, "seen": int, "written": int, "site": str}
    assert record_type._field_defaults == {"site": "main"}
    record = record_type("s1", 2 ** 40, -3, 0.25, False, "LATE", None, 1.5, T0, 0)
    coder = beam.coders.registry.get_coder(record_type)
    assert tuple(coder.decode(coder.encode(record))) == (
        "s1", 2 ** 40, -3, 0.25, False, "LATE", None, 1.5, T0, 0, "main")
    assert contract("reading", test_registry) is not reading  # another registry's contract: built at each call


@pytest.mark.parametrize("dumps,loads", [(pickle.dumps, pickle.loads), (pickler.dumps, pickler.loads)],
                         ids=["pickle", "beam-dill"])
@pytest.mark.parametrize("subject,make,too_far_ahead", [
    ("order", lambda: orders.OrderParser(60_000, clock), "more than 1m after the wall clock when read"),
    ("payment", lambda: contract("payment").parser(clock=clock), "more than 1h after the wall clock when read"),
    ("driver-location", lambda: contract("driver-location").parser(clock=clock),
     "more than 1h after the wall clock when read"),
])
def test_a_pickled_parser_is_the_same_parser(dumps, loads, subject, make, too_far_ahead):
    parser = make()
    copy = loads(dumps(parser))
    assert type(copy) is type(parser) and copy.contract is parser.contract is contract(subject)
    values = RECORD_TYPES[subject][3]
    parsed = copy.from_mapping(dict(zip(parser.contract.fields, values)))
    assert type(parsed) is parser.contract.record_type and tuple(parsed) == values
    with pytest.raises(InvalidRecord) as err:
        copy.from_mapping(dict(zip(parser.contract.fields, values), event_time=NOW_MS + 3 * HOUR_MS))
    assert str(err.value) == f"event_time too far ahead: {too_far_ahead}"
    assert type(loads(dumps(parsed))) is parser.contract.record_type


# ---------------------------------------------------------------------------------------------------
# What a contract is not built from
# ---------------------------------------------------------------------------------------------------

TIME = {"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}}


def built(tmp_path, fields, rules, subject="bad"):
    folder = tmp_path / subject
    folder.mkdir()
    (folder / "v1.avsc").write_text(json.dumps({"type": "record", "name": "Bad", "fields": fields}))
    (folder / "rules.json").write_text(rules if isinstance(rules, str) else json.dumps(rules))
    return contract(subject, SchemaRegistry(tmp_path))


@pytest.mark.parametrize("field,reason", [
    ({"name": "address", "type": {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}]}},
     "field address has type record, which contracts do not support"),
    ({"name": "tags", "type": {"type": "array", "items": "string"}},
     "field tags has type array, which contracts do not support"),
    ({"name": "labels", "type": {"type": "map", "values": "string"}},
     "field labels has type map, which contracts do not support"),
    ({"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 16}},
     "field hash has type fixed, which contracts do not support"),
    ({"name": "body", "type": "bytes"}, "field body has type bytes, which contracts do not support"),
    ({"name": "nothing", "type": "null"}, "field nothing has type null, which contracts do not support"),
    ({"name": "day", "type": {"type": "int", "logicalType": "date"}},
     "field day has logical type date on int, which contracts do not support"),
    ({"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
     "field at has logical type timestamp-micros on long, which contracts do not support"),
    ({"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
     "field price has logical type decimal on bytes, which contracts do not support"),
    ({"name": "either", "type": ["string", "long"]},
     "field either has type [string, long], which contracts do not support"),
    ({"name": "any", "type": ["null", "string", "long"]},
     "field any has type [null, string, long], which contracts do not support"),
    ({"name": "maybe_tags", "type": ["null", {"type": "array", "items": "string"}]},
     "field maybe_tags has type array, which contracts do not support"),
    ({"name": "class", "type": "string"},
     "field class cannot name a Python record field (a keyword, or a leading underscore)"),
    ({"name": "_id", "type": "string"},
     "field _id cannot name a Python record field (a keyword, or a leading underscore)"),
])
def test_an_unsupported_field_refuses_the_contract(tmp_path, field, reason):
    with pytest.raises(InvalidContract) as err:
        built(tmp_path, [field, TIME], {"t": ["event-time"]})
    assert str(err.value) == f"contract 'bad': {reason}"


@pytest.mark.parametrize("fields,rules,reason", [
    ([{"name": "id", "type": "string"}, TIME], {"id": ["nonempty"], "t": ["event-time"]},
     "unknown rule 'nonempty' on field id (known: country-code, event-time, non-empty, positive)"),
    ([TIME], {"colour": ["non-empty"], "t": ["event-time"]},
     "rules.json has rules for field colour, which the schema does not have"),
    ([{"name": "id", "type": "string"}, TIME], {"id": ["positive"], "t": ["event-time"]},
     "rule positive does not apply to field id of type string (only to int, long, float, double)"),
    ([{"name": "n", "type": "long"}, TIME], {"n": ["country-code"], "t": ["event-time"]},
     "rule country-code does not apply to field n of type long (only to string)"),
    ([{"name": "n", "type": "long"}, TIME], {"n": ["event-time"]},
     "rule event-time does not apply to field n of type long (only to timestamp-millis)"),
    ([{"name": "t", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]}], {"t": ["event-time"]},
     "rule event-time does not apply to field t of type null or timestamp-millis (only to timestamp-millis)"),
    ([{"name": "id", "type": "string"}, TIME], {"id": ["non-empty"]},
     "no field has the rule event-time; exactly one must"),
    ([TIME, {**TIME, "name": "u"}], {"t": ["event-time"], "u": ["event-time"]},
     "fields t, u have the rule event-time; exactly one must"),
    ([{"name": "id", "type": "string", "default": " "}, TIME], {"id": ["non-empty"], "t": ["event-time"]},
     "the default of field id breaks its contract: field id is empty"),
    ([{"name": "n", "type": "long", "default": 0}, TIME], {"n": ["positive"], "t": ["event-time"]},
     "the default of field n breaks its contract: field n must be positive, got 0"),
    ([TIME], "{not json",
     "rules.json is not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ([TIME], {"t": "event-time"}, "rules.json must map field names to lists of rule names"),
    ([TIME], ["event-time"], "rules.json must map field names to lists of rule names"),
])
def test_bad_rules_refuse_the_contract(tmp_path, fields, rules, reason):
    with pytest.raises(InvalidContract) as err:
        built(tmp_path, fields, rules)
    assert str(err.value) == f"contract 'bad': {reason}"


def test_a_schema_that_is_not_a_record_refuses_the_contract(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "v1.avsc").write_text('"string"')
    with pytest.raises(InvalidContract) as err:
        contract("bad", SchemaRegistry(tmp_path))
    assert str(err.value) == "contract 'bad': the schema is not a record but string"


def test_a_subject_without_rules_has_no_event_time_field():
    with pytest.raises(InvalidContract) as err:
        contract("orders-per-minute")
    assert str(err.value) == "contract 'orders-per-minute': no field has the rule event-time; exactly one must"


@pytest.mark.parametrize("subject", SUBJECTS)
def test_the_corpus_read_as_an_archive_gives_the_same_outcomes_and_origins(tmp_path, subject):
    """Every case of the subject's corpus (every version) as one line of a JSON Lines archive, read as a
    backfill reads it: valid records come out in file order, the others as dead letters at their line."""
    cases = [case for case in CORPUS if subject_of(case[0]) == subject]
    lines = [json.dumps(record).encode() for _, record, _ in cases]
    path = tmp_path / f"{subject}.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    offsets = [sum(len(line) + 1 for line in lines[:i]) for i in range(len(lines))]
    [split] = plan_splits(select_inputs(str(path)).files, 1 << 30)
    dead_letters = []
    parser = parser_of(subject)
    valid = list(read_split(split, parser, REGISTRY.latest(subject), dead_letters))
    want = [expected_outcome(parser.contract, expected) for _, _, expected in cases]
    assert [outcome(lambda record: record, record) for record in valid] == [w for w in want if not isinstance(w, str)]
    assert [(d.error, d.origin, d.record) for d in dead_letters] == [
        (w, f"{path}@{offset}", line) for w, offset, line in zip(want, offsets, lines) if isinstance(w, str)]
