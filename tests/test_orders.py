import datetime
import json

import pytest

from kappa.io.dead_letter import DeadLetter
from kappa.io.orders import InvalidRecord, Order, OrderParser, order_from_json, order_from_mapping
from kappa.io.readers import RecordFormat, parse_records, raw_parser

VALID = {"order_id": "o1", "region": "eu-west", "amount": 12.5, "event_time": 1_700_000_000_000}


def test_valid_line_becomes_an_order():
    assert order_from_json(json.dumps(VALID)) == Order("o1", "eu-west", 12.5, 1_700_000_000_000)


def test_integer_amount_is_accepted_as_double():
    assert order_from_json(json.dumps(dict(VALID, amount=3))).amount == 3.0


def test_avro_timestamp_millis_datetime_becomes_epoch_millis():
    when = datetime.datetime(2026, 11, 27, 0, 0, 0, 1000, tzinfo=datetime.timezone.utc)
    assert order_from_mapping(dict(VALID, event_time=when)).event_time == 1_795_737_600_001


@pytest.mark.parametrize("line,reason", [
    ("{not json", "bad JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ("[1, 2]", "expected a JSON object, got list"),
    (json.dumps({k: v for k, v in VALID.items() if k != "region"}), "missing field region"),
    (json.dumps(dict(VALID, region="")), "field region is empty"),
    (json.dumps(dict(VALID, region="  ")), "field region is empty"),
    (json.dumps(dict(VALID, order_id=7)), "field order_id must be a string, got int"),
    (json.dumps(dict(VALID, amount="12.5")), "field amount must be a number, got str"),
    (json.dumps(dict(VALID, amount=True)), "field amount must be a number, got bool"),
    (json.dumps(dict(VALID, amount=float("nan"))), "field amount must be finite, got nan"),
    (json.dumps(dict(VALID, event_time=1.5e12)), "field event_time must be integer epoch milliseconds, got float"),
    (json.dumps(dict(VALID, event_time="1700000000000")), "field event_time must be integer epoch milliseconds, got str"),
    (json.dumps(dict(VALID, event_time=-1)), "event_time out of range: -1 is not in 0 .. 253402300799999 ms "
                                             "(1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z)"),
])
def test_contract_breaks_say_why(line, reason):
    with pytest.raises(InvalidRecord) as err:
        order_from_json(line)
    assert str(err.value) == reason


def test_parse_splits_valid_orders_from_dead_letters():
    lines = [json.dumps(VALID), "oops", json.dumps(dict(VALID, order_id="o2", region=""))]
    parse = raw_parser(OrderParser(), RecordFormat.JSONL)
    parsed = list(parse_records(((line, f"f@{i}") for i, line in enumerate(lines)), parse, "orders"))
    assert parsed == [
        Order("o1", "eu-west", 12.5, 1_700_000_000_000),
        DeadLetter("oops", "bad JSON: Expecting value: line 1 column 1 (char 0)", "f@1", "orders"),
        DeadLetter(lines[2], "field region is empty", "f@2", "orders"),
    ]
