"""Kafka record values in the Confluent wire format, or JSON text.

The Confluent framing is a magic byte 0, the writer schema's id as 4 big-endian bytes, then the Avro
binary body. Any Kafka consumer that can look the id up decodes it; kappa's ids come from its schema
registry (`schema_id`). JSON objects are accepted on input as well, so a producer that cannot speak Avro
still feeds the pipeline.
"""
import io
import json
import struct
from typing import Any, Dict, Mapping, Optional, Tuple

import fastavro

from kappa.io.contracts import InvalidRecord, decode_utf8
from kappa.io.schema_compat import ReadPlan, read_plan
from kappa.io.schema_registry import SchemaRegistry, schema_id

MAGIC = 0
_HEADER = struct.Struct(">bI")


def frame(writer_id: int, body: bytes) -> bytes:
    return _HEADER.pack(MAGIC, writer_id) + body


def unframe(data: bytes) -> Tuple[int, memoryview]:
    if len(data) < _HEADER.size or data[0] != MAGIC:
        raise InvalidRecord("not in the Avro wire format (magic byte 0 and a schema id)")
    _, writer_id = _HEADER.unpack_from(data)
    return writer_id, memoryview(data)[_HEADER.size:]


class WireCodec:
    """Records of one subject: written with its latest version, read from any version the registry
    knows (resolved to the latest), so old producers and upgraded consumers interoperate.

    With `timestamps_as_millis`, timestamp-millis fields decode to their epoch milliseconds, as the event
    contracts keep them, rather than to datetimes."""

    def __init__(self, subject: str, registry: Optional[SchemaRegistry] = None, timestamps_as_millis: bool = False):
        self.subject = subject
        self._registry = registry or SchemaRegistry()
        self._reader = self._registry.latest(subject)
        self._reader_id = schema_id(self._reader)
        self._as_millis = timestamps_as_millis
        self._plans: Dict[int, ReadPlan] = {}

    def encode_avro(self, record: Mapping[str, Any]) -> bytes:
        body = io.BytesIO()
        fastavro.schemaless_writer(body, self._reader, record)
        return frame(self._reader_id, body.getvalue())

    def decode(self, data: bytes) -> Any:
        """Avro wire format -> dict; JSON text (UTF-8, a leading BOM skipped) -> whatever the JSON
        holds. Raises InvalidRecord."""
        if data[:1] == b"\x00":
            return self._decode_avro(data)
        text = decode_utf8(data)
        try:
            return json.loads(text[1:] if text[:1] == "\ufeff" else text)
        except ValueError as err:
            raise InvalidRecord(f"neither the Avro wire format nor JSON: {err}") from None

    def _plan(self, writer_id: int) -> ReadPlan:
        plan = self._plans.get(writer_id)
        if plan is None:
            try:
                writer = self._registry.by_id(writer_id)
            except KeyError:
                raise InvalidRecord(f"unknown schema id {writer_id}") from None
            plan = self._plans[writer_id] = read_plan(writer, self._reader, self._as_millis)
        return plan

    def _decode_avro(self, data: bytes) -> dict:
        writer_id, body = unframe(data)
        writer, reader, defaults = self._plan(writer_id)
        try:
            record = fastavro.schemaless_reader(io.BytesIO(body), writer, reader)
        except Exception as err:  # fastavro raises several types for a truncated or mismatched body
            raise InvalidRecord(f"undecodable Avro body for schema id {writer_id}: {err}") from None
        if defaults:
            record.update(defaults)
        return record


def read_any(data: bytes, registry: SchemaRegistry) -> Any:
    """A value of any subject, for inspection: Avro by its writer schema, else JSON, else text."""
    if data[:1] == b"\x00":
        writer_id, body = unframe(data)
        return fastavro.schemaless_reader(io.BytesIO(body), registry.by_id(writer_id))
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", errors="replace")
