"""A record the pipeline could not use, kept with the reason, so nothing is lost silently."""
from __future__ import annotations

import datetime
import json
from typing import Any, NamedTuple

DEAD_LETTER_TAG = "dead_letter"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return repr(value)


class DeadLetter(NamedTuple):
    """`record` is the raw input (a JSON line as text, an Avro record as a dict, or a file's path)."""

    record: Any
    error: str

    def to_json(self) -> str:
        return json.dumps({"record": self.record, "error": self.error}, default=_json_default, allow_nan=True)
