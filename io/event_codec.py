"""Events and results as Kafka record values: Avro in the Confluent wire format, or JSON.

Decoding never raises: a value that cannot be read, or that breaks the event contract, comes back as a
`DeadLetter` with the reason, so a streaming source can route it without stopping the job.
"""
import enum
import json
from typing import Any, Callable, Mapping, Optional, Tuple, Union

from kappa.io.dead_letter import DeadLetter, json_default
from kappa.io.contracts import InvalidRecord
from kappa.io.schema_registry import SchemaRegistry
from kappa.io.wire_format import WireCodec


class ValueFormat(enum.Enum):
    AVRO = "avro"  # Confluent wire format
    JSON = "json"


class Decoder:
    """A Kafka record of an event stream -> a valid event of the contract, or a DeadLetter; takes Avro
    (any known version) or JSON. Timestamps reach the contract's parser as epoch milliseconds, as JSON
    producers send them. An event carries its own identity and time, so the record's key and
    timestamp are not needed; a null value (a changelog's tombstone) has no place in an event stream.

    It keeps the parser, not its `from_mapping`: a parser pickles by its settings and rebuilds its
    compiled fast path on the worker, where a pickled copy of the function alone would lose its names."""

    def __init__(self, subject: str, parser: Any, registry: Optional[SchemaRegistry] = None):
        self._codec = WireCodec(subject, registry, timestamps_as_millis=True)
        self._parser = parser
        self._tombstone = f"a null value (a tombstone): {subject} is an event stream, not a changelog"

    def __call__(self, value: Optional[bytes], key: Optional[bytes] = None,
                 timestamp_ms: Optional[int] = None) -> Union[Any, DeadLetter]:
        try:
            if value is None:
                raise InvalidRecord(self._tombstone)
            if not value:
                raise InvalidRecord("empty record value")
            record = self._codec.decode(value)
            if not isinstance(record, dict):
                raise InvalidRecord(f"expected a record, got {type(record).__name__}")
            return self._parser.from_mapping(record)
        except InvalidRecord as err:
            return DeadLetter(record=value, error=str(err))


class Encoder:
    """A record (a dict of the subject's latest schema) -> bytes in the chosen format."""

    def __init__(self, subject: str, value_format: ValueFormat, registry: Optional[SchemaRegistry] = None):
        self._codec = WireCodec(subject, registry) if value_format is ValueFormat.AVRO else None

    def __call__(self, record: Mapping[str, Any]) -> bytes:
        if self._codec is not None:
            return self._codec.encode_avro(record)
        return json.dumps(record, separators=(",", ":")).encode()


class ArchiveToKafka:
    """An archived record of one contract -> a Kafka (key, value), for replaying archives into a topic.

    Valid events are keyed by `key_field` (an order by its id), so a redelivery lands on the same
    partition as the original. A malformed record is sent as it is, unkeyed, so that it reaches the
    job's dead letters exactly as a bad producer's record would.
    """

    def __init__(self, subject: str, parse: Callable[[Any], Any], key_field: str, value_format: ValueFormat,
                 event_time_field: str = "event_time", registry: Optional[SchemaRegistry] = None):
        self._parse = parse
        self._key_field = key_field
        self._event_time_field = event_time_field
        self._format = value_format
        self._encode = Encoder(subject, value_format, registry)

    def __call__(self, raw: Any) -> Tuple[Optional[bytes], bytes]:
        line = raw.encode() if isinstance(raw, str) else raw if isinstance(raw, bytes) else None
        try:
            event = self._parse(raw)
        except (InvalidRecord, TypeError):
            return None, line if line is not None else json.dumps(raw, default=json_default).encode()
        key = getattr(event, self._key_field).encode()
        if line is not None and self._format is ValueFormat.JSON:
            return key, line
        record = dict(raw) if isinstance(raw, Mapping) else json.loads(raw)
        record[self._event_time_field] = getattr(event, self._event_time_field)
        return key, self._encode(record)
