"""The `Order` event contract: its fields, and how raw JSON lines and Avro records become valid orders.

Validation is strict because a silently coerced field corrupts every window it lands in: a record that
breaks the contract raises `InvalidRecord` with a reason, and the caller turns it into a dead letter.

The contract, field by field:
- `order_id`, `region`: strings, NFC-normalised and stripped of surrounding whitespace; empty after
  that, or holding an invisible or control character (Unicode categories Cc, Cf, Zl, Zp, e.g. U+200B)
  or an unpaired surrogate, they are refused. So "eu-west " and "eu-west" are one region.
- `amount`: a finite number.
- `event_time`: integer epoch milliseconds in 0 .. 253402300799999 (1970-01-01T00:00:00.000Z to
  9999-12-31T23:59:59.999Z), and at most the parser's `max_event_time_skew_ms` ahead of the wall
  clock when the record is read. No producer stamps an event that has not happened yet beyond its
  clock's skew; one such record would move the watermark past every window for good.
- JSON text must be UTF-8 (RFC 8259); a UTF-8 byte order mark at the start of a file is skipped.
"""

import datetime
import json
import math
import time
import unicodedata
from typing import Any, Callable, Mapping, NamedTuple, Union

import apache_beam as beam

from kappa.transforms.windowing import format_duration_ms

SUBJECT = "order"

MIN_EVENT_TIME_MS = 0
MAX_EVENT_TIME_MS = 253_402_300_799_999
EVENT_TIME_RANGE = (f"{MIN_EVENT_TIME_MS} .. {MAX_EVENT_TIME_MS} ms "
                    "(1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z)")
DEFAULT_MAX_EVENT_TIME_SKEW_MS = 3_600_000


class InvalidRecord(ValueError):
    """The record breaks the event contract; the message is the dead letter's reason."""


class Order(NamedTuple):
    order_id: str
    region: str
    amount: float
    event_time: int  # epoch milliseconds, when the order was placed


beam.coders.registry.register_coder(Order, beam.coders.RowCoder)

_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}


def _text(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        raise InvalidRecord(f"missing field {name}")
    if not isinstance(value, str):
        raise InvalidRecord(f"field {name} must be a string, got {type(value).__name__}")
    if not value.isascii():
        value = unicodedata.normalize("NFC", value)
    value = value.strip()
    if not value:
        raise InvalidRecord(f"field {name} is empty")
    if not value.isprintable():
        for char in value:
            category = unicodedata.category(char)
            if category in _INVISIBLE:
                raise InvalidRecord(f"field {name} contains an invisible character U+{ord(char):04X}")
            if category == "Cs":  # JSON's "\ud800" decodes to one; no UTF-8 writer can encode it
                raise InvalidRecord(f"field {name} contains an unpaired surrogate U+{ord(char):04X}")
    return value


def _amount(record: Mapping[str, Any]) -> float:
    value = record.get("amount")
    if value is None:
        raise InvalidRecord("missing field amount")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRecord(f"field amount must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise InvalidRecord(f"field amount must be finite, got {value}")
    return float(value)


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
MILLISECOND = datetime.timedelta(milliseconds=1)


def epoch_ms(moment: datetime.datetime) -> int:
    """An aware datetime (fastavro's reading of timestamp-millis) -> epoch milliseconds, exactly."""
    return (moment - EPOCH) // MILLISECOND


def _event_time(record: Mapping[str, Any]) -> int:
    value = record.get("event_time")
    if value is None:
        raise InvalidRecord("missing field event_time")
    if isinstance(value, datetime.datetime):  # fastavro decodes timestamp-millis to an aware datetime
        value = epoch_ms(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRecord(f"field event_time must be integer epoch milliseconds, got {type(value).__name__}")
    if not MIN_EVENT_TIME_MS <= value <= MAX_EVENT_TIME_MS:
        raise InvalidRecord(f"event_time out of range: {value} is not in {EVENT_TIME_RANGE}")
    return value


def decode_utf8(data: bytes) -> str:
    """Strictly: a byte that is not UTF-8 is refused, never replaced (U+FFFD would pass as a region)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidRecord(f"invalid UTF-8: byte 0x{data[err.start]:02x} at position {err.start} "
                            f"({err.reason})") from None


def json_object(text: Union[str, bytes]) -> dict:
    if type(text) is bytes:
        text = decode_utf8(text)
    try:
        record = json.loads(text)
    except ValueError as err:
        raise InvalidRecord(f"bad JSON: {err}") from None
    if not isinstance(record, dict):
        raise InvalidRecord(f"expected a JSON object, got {type(record).__name__}")
    return record


class OrderParser:
    """Raw records -> valid `Order`s under the contract, including the guard against events from the
    future: an event time more than `max_event_time_skew_ms` ahead of the wall clock when it is read.

    The limit is kept from the last reading of the clock; only a record beyond it reads the clock
    again before it is refused. Time only moves on, so a kept limit never accepts what the current
    clock would refuse, and a long-running reader's limit moves with time at no cost per valid record.
    Picklable with the default clock: a copy shipped to a worker reads the worker's clock.
    """

    def __init__(self, max_event_time_skew_ms: int = DEFAULT_MAX_EVENT_TIME_SKEW_MS,
                 clock: Callable[[], float] = time.time):
        if max_event_time_skew_ms <= 0:
            raise ValueError(f"the maximum event time skew must be positive, got {max_event_time_skew_ms} ms")
        self.max_event_time_skew_ms = max_event_time_skew_ms
        self._clock = clock
        self._too_far_ahead = (f"event_time too far ahead: more than {format_duration_ms(max_event_time_skew_ms)} "
                               "after the wall clock when read")
        self._latest_ms = self._read_clock()

    def _read_clock(self) -> int:
        self._latest_ms = min(int(self._clock() * 1000) + self.max_event_time_skew_ms, MAX_EVENT_TIME_MS)
        return self._latest_ms

    def from_mapping(self, record: Mapping[str, Any]) -> Order:
        order_id, region = record.get("order_id"), record.get("region")
        amount, event_time = record.get("amount"), record.get("event_time")
        # The common valid record, checked in one expression: a backfill validates millions of them.
        # Printable ASCII is already NFC and holds no invisible character. Anything else takes the
        # field-by-field checks, which normalise or name what is wrong.
        if (type(order_id) is str and type(region) is str and type(amount) is float and type(event_time) is int
                and order_id and region and order_id.isascii() and region.isascii()
                and order_id.isprintable() and region.isprintable()
                and order_id.strip() == order_id and region.strip() == region
                and math.isfinite(amount) and 0 <= event_time <= self._latest_ms):
            return Order(order_id, region, amount, event_time)
        order = Order(
            order_id=_text(record, "order_id"),
            region=_text(record, "region"),
            amount=_amount(record),
            event_time=_event_time(record),
        )
        if order.event_time > self._latest_ms and order.event_time > self._read_clock():
            raise InvalidRecord(self._too_far_ahead)
        return order

    def from_json(self, line: Union[str, bytes]) -> Order:
        """A JSON object as text, or as the UTF-8 bytes of a line."""
        return self.from_mapping(json_object(line))

    def parse(self, raw: Any) -> Order:
        """A JSON line (bytes or text) or a decoded record (a mapping), told apart by type."""
        if isinstance(raw, (bytes, str)):
            return self.from_json(raw)
        if isinstance(raw, Mapping):
            return self.from_mapping(raw)
        raise InvalidRecord(f"expected a JSON line or a record, got {type(raw).__name__}")


DEFAULT_PARSER = OrderParser()
order_from_mapping = DEFAULT_PARSER.from_mapping
order_from_json = DEFAULT_PARSER.from_json


def order_to_json(order: Order) -> str:
    return json.dumps(order._asdict())


def order_to_avro(order: Order) -> dict:
    return order._asdict()
