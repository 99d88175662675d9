"""Reading order events from archives: JSON Lines or Avro container files, a file, a folder or a glob.

Every raw record either becomes a valid `Order` or a `DeadLetter` with its reason; the counters
`kappa/records_in` and `kappa/dead_letters` let a run reconcile what came in with what came out.
Avro files are read with the registry's current `Order` schema as the reader schema, so archives written
with any compatible older version resolve into today's contract.
"""
from __future__ import annotations

import enum
import glob
import os
from typing import Any, Callable, Iterable, Iterator, List, NamedTuple, Optional, Union

import apache_beam as beam
import fastavro
from apache_beam.io import fileio
from apache_beam.pvalue import PCollection

from kappa.io import orders
from kappa.io.dead_letter import DEAD_LETTER_TAG, DeadLetter
from kappa.io.schema_registry import SchemaRegistry
from kappa.transforms import metrics

RawRecord = Union[str, dict]


class RecordFormat(enum.Enum):
    JSONL = "jsonl"
    AVRO = "avro"


_GLOB_CHARS = set("*?[")


def resolve_input(path: str) -> str:
    """A file, a folder (all files in it) or a glob -> a glob pattern; raises FileNotFoundError if it matches nothing."""
    pattern = os.path.join(path, "*") if os.path.isdir(path) else path
    if not matching_files(pattern):
        what = "folder" if os.path.isdir(path) else ("glob" if _GLOB_CHARS & set(path) else "file")
        raise FileNotFoundError(f"input {what} {path!r} has no files to read")
    return pattern


def matching_files(pattern: str) -> List[str]:
    return sorted(p for p in glob.glob(pattern) if os.path.isfile(p))


def avro_records(fileobj, path: str, reader_schema: dict) -> Iterator[RawRecord]:
    """The records of one Avro file resolved into `reader_schema`, or a dead letter where that fails.

    A file whose writer schema cannot be resolved, or that breaks off mid-way, yields one dead letter
    naming the file, after the records that could be read.
    """
    try:
        for record in fastavro.reader(fileobj, reader_schema=reader_schema):
            yield record
    except Exception as err:  # fastavro raises many types for corrupt or unresolvable files
        yield DeadLetter(record=path, error=f"unreadable Avro file: {type(err).__name__}: {err}")


def lines(fileobj) -> Iterator[str]:
    for raw in fileobj:
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


def iter_raw_records(pattern: str, fmt: RecordFormat, reader_schema: Optional[dict] = None) -> Iterator[RawRecord]:
    """Every raw record of the matching files, files in name order, records in file order (for replay)."""
    reader_schema = reader_schema or SchemaRegistry().latest(orders.SUBJECT)
    for path in matching_files(pattern):
        with open(path, "rb") as fileobj:
            yield from (avro_records(fileobj, path, reader_schema) if fmt is RecordFormat.AVRO else lines(fileobj))


class _ReadAvroFile(beam.DoFn):
    def __init__(self, reader_schema: dict):
        self._reader_schema = reader_schema

    def process(self, readable: fileio.ReadableFile):
        with readable.open() as fileobj:
            yield from avro_records(fileobj, readable.metadata.path, self._reader_schema)


class ReadRawRecords(beam.PTransform):
    """A glob of archive files -> raw records (JSON lines as text, Avro records as dicts).

    Avro files that cannot be read come out as `DeadLetter`s among the records; `ParseOrders` passes
    them on to the dead-letter output.
    """

    def __init__(self, pattern: str, fmt: RecordFormat):
        super().__init__()
        self._pattern = pattern
        self._format = fmt

    def expand(self, pbegin):
        if self._format is RecordFormat.JSONL:
            return pbegin | "ReadLines" >> beam.io.ReadFromText(self._pattern)
        reader_schema = SchemaRegistry().latest(orders.SUBJECT)
        return (
            pbegin
            | "MatchFiles" >> fileio.MatchFiles(self._pattern)
            | "OpenFiles" >> fileio.ReadMatches()
            | "ReadAvro" >> beam.ParDo(_ReadAvroFile(reader_schema))
        )


class ParsedEvents(NamedTuple):
    valid: PCollection
    dead_letters: PCollection


class _ParseDoFn(beam.DoFn):
    def __init__(self, parse: Callable[[Any], Any]):
        self._parse = parse
        self._records_in = metrics.counter(metrics.RECORDS_IN)
        self._dead_letters = metrics.counter(metrics.DEAD_LETTERS)

    def process(self, raw: Any) -> Iterable:
        self._records_in.inc()
        if isinstance(raw, DeadLetter):
            self._dead_letters.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, raw)
            return
        try:
            yield self._parse(raw)
        except orders.InvalidRecord as err:
            self._dead_letters.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, DeadLetter(record=raw, error=str(err)))


def order_parser(fmt: RecordFormat) -> Callable[[Any], orders.Order]:
    return orders.order_from_json if fmt is RecordFormat.JSONL else orders.order_from_mapping


class ParseOrders(beam.PTransform):
    """Raw records -> `ParsedEvents(valid=Order..., dead_letters=DeadLetter...)`; never raises on bad input."""

    def __init__(self, fmt: RecordFormat):
        super().__init__()
        self._format = fmt

    def expand(self, raw):
        return _split(raw, order_parser(self._format), orders.Order)


class SplitDeadLetters(beam.PTransform):
    """Decoded events mixed with DeadLetters -> `ParsedEvents`, for sources that decode as they read."""

    def __init__(self, event_type: type):
        super().__init__()
        self._event_type = event_type

    def expand(self, decoded):
        return _split(decoded, _already_parsed, self._event_type)


def _already_parsed(event: Any) -> Any:
    return event


def _split(raw: PCollection, parse: Callable[[Any], Any], event_type: type) -> ParsedEvents:
    parsed = raw | "Parse" >> beam.ParDo(_ParseDoFn(parse)).with_output_types(event_type).with_outputs(
        DEAD_LETTER_TAG, main="valid")
    return ParsedEvents(valid=parsed.valid, dead_letters=parsed[DEAD_LETTER_TAG])
