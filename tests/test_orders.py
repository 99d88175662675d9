import datetime
import json

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from kappa.io.dead_letter import DeadLetter
from kappa.io.orders import InvalidRecord, Order, order_from_json, order_from_mapping
from kappa.io.readers import ParseOrders, RecordFormat, order_parser

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
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        parsed = pipeline | beam.Create(lines) | ParseOrders(order_parser(RecordFormat.JSONL))
        assert_that(parsed.valid, equal_to([Order("o1", "eu-west", 12.5, 1_700_000_000_000)]), label="valid")
        assert_that(parsed.dead_letters | beam.Map(DeadLetter.to_json), equal_to([
            json.dumps({"record": "oops", "error": "bad JSON: Expecting value: line 1 column 1 (char 0)"}),
            json.dumps({"record": lines[2], "error": "field region is empty"}),
        ]), label="dead letters")
