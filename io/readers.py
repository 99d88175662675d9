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
from fastavro.read import SchemaResolutionError
from apache_beam.io import fileio
from apache_beam.pvalue import PCollection

from kappa.io import orders
from kappa.io.dead_letter import DEAD_LETTER_TAG, DeadLetter
from kappa.io.schema_compat import ReadPlan, read_plan, resolution_problems
from kappa.io.schema_registry import SchemaRegistry
from kappa.io.splits import FileSplit, seek_past_sync
from kappa.transforms import metrics
from kappa.transforms.aggregation import WindowedAggregation, WindowPartials
from kappa.transforms.windowing import WindowSpec

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


def format_of(pattern: str) -> RecordFormat:
    """Avro when every matching file is named *.avro, else JSON Lines."""
    files = matching_files(pattern)
    return RecordFormat.AVRO if files and all(f.endswith(".avro") for f in files) else RecordFormat.JSONL


def avro_records(fileobj, path: str, reader_schema: dict, split: Optional[FileSplit] = None) -> Iterator[RawRecord]:
    """The records of one Avro file (or of the blocks that begin in `split`) resolved into
    `reader_schema`, timestamp-millis fields as epoch milliseconds; or a dead letter where that fails.

    A file whose writer schema cannot be resolved, or that breaks off mid-way, yields one dead letter
    naming the file, after the records that could be read; a header that cannot be read is reported
    by the file's first split only, so a file counts once however it is split.
    """
    try:
        blocks = fastavro.block_reader(fileobj)
        plan = read_plan(blocks.writer_schema, reader_schema)
        if plan.reader is not None:
            # fastavro finds an unresolvable schema only when it decodes a record, in every split that
            # holds one; checked here, the file is one dead letter, reported by its first split.
            problems = resolution_problems(blocks.writer_schema, reader_schema)
            if problems:
                raise SchemaResolutionError("; ".join(problems))
    except Exception as err:  # fastavro raises many types for corrupt or unresolvable files
        if split is None or split.first:
            yield DeadLetter(record=path, error=f"unreadable Avro file: {type(err).__name__}: {err}")
        return
    try:
        sync = blocks._header["sync"]  # fastavro keeps the header private; Beam's avroio reads it the same way
        if split is not None and not split.first and not seek_past_sync(fileobj, sync, split.start):
            return
        end = split.end if split is not None else None
        position = fileobj.tell()
        while end is None or position < end:  # a block that begins past the split is not read at all
            block = next(blocks, None)
            if block is None:
                return
            yield from _block_records(block, plan)
            position = block.offset + block.size
    except Exception as err:
        yield DeadLetter(record=path, error=f"unreadable Avro file: {type(err).__name__}: {err}")


def _block_records(block, plan: ReadPlan) -> Iterator[dict]:
    """A block's records, decoded from its bytes by the file's read plan (timestamps as longs)."""
    read, data = fastavro.schemaless_reader, block.bytes_
    writer, reader, defaults = plan
    for _ in range(block.num_records):
        record = read(data, writer, reader)
        if defaults:
            record.update(defaults)
        yield record


def lines(fileobj, split: Optional[FileSplit] = None) -> Iterator[str]:
    """The lines of a file, or those that begin in `split`."""
    position, end = 0, None
    if split is not None:
        end = split.end
        if split.start > 0:
            fileobj.seek(split.start - 1)
            fileobj.readline()  # the end of the line that began in the previous split
        position = fileobj.tell()
    for raw in fileobj:
        if end is not None and position >= end:
            return
        position += len(raw)
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


def split_records(split: FileSplit, fmt: RecordFormat, reader_schema: dict) -> Iterator[RawRecord]:
    with open(split.path, "rb") as fileobj:
        if fmt is RecordFormat.AVRO:
            yield from avro_records(fileobj, split.path, reader_schema, split)
        else:
            yield from lines(fileobj, split)


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


def parse_records(raw_records: Iterable[Any], parse: Callable[[Any], Any]) -> Iterator[Any]:
    """Each raw record as an event, or as a `DeadLetter` with the reason it breaks the contract."""
    for raw in raw_records:
        if isinstance(raw, DeadLetter):
            yield raw
            continue
        try:
            yield parse(raw)
        except orders.InvalidRecord as err:
            yield DeadLetter(record=raw, error=str(err))


class _ParseDoFn(beam.DoFn):
    def __init__(self, parse: Callable[[Any], Any]):
        self._parse = parse
        self._records_in = metrics.counter(metrics.RECORDS_IN)
        self._dead_letters = metrics.counter(metrics.DEAD_LETTERS)

    def process(self, raw: Any) -> Iterable:
        self._records_in.inc()
        for event in parse_records((raw,), self._parse):
            if isinstance(event, DeadLetter):
                self._dead_letters.inc()
                yield beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, event)
            else:
                yield event


class _PreAggregateSplit(beam.DoFn):
    """One file split read, parsed and folded into partial aggregates in a single pass."""

    def __init__(self, fmt: RecordFormat, reader_schema: dict, aggregation: WindowedAggregation, spec: WindowSpec):
        self._format = fmt
        self._reader_schema = reader_schema
        self._aggregation = aggregation
        self._spec = spec
        self._records_in = metrics.counter(metrics.RECORDS_IN)
        self._dead_letters = metrics.counter(metrics.DEAD_LETTERS)

    def process(self, split: FileSplit) -> Iterable:
        partials = WindowPartials(self._aggregation, self._spec)
        dead_letters: List[DeadLetter] = []
        events = parse_records(split_records(split, self._format, self._reader_schema), order_parser(self._format))
        valid = partials.add_all(_divert_dead_letters(events, dead_letters))
        self._records_in.inc(valid + len(dead_letters))
        self._dead_letters.inc(len(dead_letters))
        for dead_letter in dead_letters:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, dead_letter)
        yield from partials.partials()


def _divert_dead_letters(events: Iterable[Any], dead_letters: List[DeadLetter]) -> Iterator[Any]:
    for event in events:
        if isinstance(event, DeadLetter):
            dead_letters.append(event)
        else:
            yield event


class PreAggregateSplits(beam.PTransform):
    """File splits -> `ParsedEvents(valid=timestamped (key, accumulator) partials, dead_letters)`: the
    backfill plan of `WindowedAggregation`, which `MergePartials` completes."""

    def __init__(self, fmt: RecordFormat, aggregation: WindowedAggregation, spec: WindowSpec):
        super().__init__()
        self._format = fmt
        self._aggregation = aggregation
        self._spec = spec

    def expand(self, splits):
        read = _PreAggregateSplit(self._format, SchemaRegistry().latest(orders.SUBJECT), self._aggregation, self._spec)
        parsed = splits | "ReadParseAggregate" >> beam.ParDo(read).with_outputs(DEAD_LETTER_TAG, main="valid")
        return ParsedEvents(valid=parsed.valid, dead_letters=parsed[DEAD_LETTER_TAG])


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
    """Decoded events mixed with DeadLetters -> `ParsedEvents`, for sources that decode as they read.
    `event_type` types the valid output; None leaves it to inference (partial aggregates)."""

    def __init__(self, event_type: Optional[type]):
        super().__init__()
        self._event_type = event_type

    def expand(self, decoded):
        return _split(decoded, _already_parsed, self._event_type)


def _already_parsed(event: Any) -> Any:
    return event


def _split(raw: PCollection, parse: Callable[[Any], Any], event_type: Optional[type]) -> ParsedEvents:
    parse_each = beam.ParDo(_ParseDoFn(parse))
    if event_type is not None:
        parse_each = parse_each.with_output_types(event_type)
    parsed = raw | "Parse" >> parse_each.with_outputs(DEAD_LETTER_TAG, main="valid")
    return ParsedEvents(valid=parsed.valid, dead_letters=parsed[DEAD_LETTER_TAG])
