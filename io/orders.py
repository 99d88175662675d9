"""The `order` event contract as the rest of kappa imports it: its record type, its parser and its
helpers, all derived from `schemas/order/` by `kappa.io.contracts`, whose docstring says what the
contract asks of each field."""
import json
import time
from typing import Callable

from kappa.io.contracts import (DEFAULT_MAX_EVENT_TIME_SKEW_MS, EPOCH, EVENT_TIME_RANGE, MAX_EVENT_TIME_MS,
                                MILLISECOND, MIN_EVENT_TIME_MS, InvalidRecord, Parser, contract, decode_utf8,
                                epoch_ms, json_object)

__all__ = ["SUBJECT", "MIN_EVENT_TIME_MS", "MAX_EVENT_TIME_MS", "EVENT_TIME_RANGE", "DEFAULT_MAX_EVENT_TIME_SKEW_MS",
           "InvalidRecord", "Order", "EPOCH", "MILLISECOND", "epoch_ms", "decode_utf8", "json_object", "OrderParser",
           "DEFAULT_PARSER", "order_from_mapping", "order_from_json", "order_to_json", "order_to_avro"]

SUBJECT = "order"

# Order(order_id, region, amount, event_time, currency="EUR", customer_id=None), from the latest version
Order = contract(SUBJECT).record_type


class OrderParser(Parser):
    """The order contract's `Parser`: only the event time skew and the clock are chosen."""

    def __init__(self, max_event_time_skew_ms: int = DEFAULT_MAX_EVENT_TIME_SKEW_MS,
                 clock: Callable[[], float] = time.time):
        super().__init__(contract(SUBJECT), max_event_time_skew_ms, clock)


DEFAULT_PARSER = OrderParser()
order_from_mapping = DEFAULT_PARSER.from_mapping
order_from_json = DEFAULT_PARSER.from_json


def order_to_json(order: Order) -> str:
    return json.dumps(order._asdict())


def order_to_avro(order: Order) -> dict:
    return order._asdict()
