"""A record the pipeline could not use, kept with the reason, so nothing is lost silently."""
from __future__ import annotations

import base64
import datetime
import json
from typing import Any, NamedTuple, Optional

DEAD_LETTER_TAG = "dead_letter"


def json_default(value: Any) -> Any:
    """JSON for what Avro and Kafka hand over: datetimes as epoch millis, bytes as text or base64."""
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode("ascii")
    return repr(value)


class DeadLetter(NamedTuple):
    """`record` is the raw input (a JSON line as text, an Avro record as a dict, or a file's path).
    `origin` is where a source that may read it again found it (a Kafka record's `topic/partition@offset`):
    the dead-letter topic is keyed by it, so an at-least-once replay overwrites instead of adding.
    `stream` is the pipeline's input it was read for."""

    record: Any
    error: str
    origin: Optional[str] = None
    stream: Optional[str] = None

    def to_json(self) -> str:
        fields = {"record": self.record, "error": self.error}
        if self.origin is not None:
            fields["origin"] = self.origin
        if self.stream is not None:
            fields["stream"] = self.stream
        return json.dumps(fields, default=json_default, allow_nan=True)
