"""What every bare-Python limit reads alike: an archive's Avro records, and the contracts' reading of
ids and event times, in the fewest Python steps (the limits are what kappa is measured against)."""
import datetime
import unicodedata
from typing import Iterable, Iterator, Optional

import fastavro

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
MILLISECOND = datetime.timedelta(milliseconds=1)
MAX_EVENT_TIME_MS = 253_402_300_799_999


def records(paths: Iterable[str]) -> Iterator[dict]:
    for path in paths:
        with open(path, "rb") as f:
            yield from fastavro.reader(f)


def count(paths: Iterable[str]) -> int:
    total = 0
    for path in paths:
        with open(path, "rb") as f:
            total += sum(block.num_records for block in fastavro.block_reader(f))
    return total


def valid_id(value: str) -> Optional[str]:
    """The contract's reading of an id (NFC, stripped, no invisible or control character), or None."""
    if value.isascii():
        value = value.strip()
        return value if value and value.isprintable() else None
    value = unicodedata.normalize("NFC", value).strip()
    if not value or any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") for c in value):
        return None
    return value


def event_ms(value: datetime.datetime) -> Optional[int]:
    """A timestamp-millis field as epoch milliseconds, or None outside the contracts' range."""
    ms = (value - EPOCH) // MILLISECOND
    return ms if 0 <= ms <= MAX_EVENT_TIME_MS else None
