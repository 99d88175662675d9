"""Reading order events from archives: JSON Lines or Avro container files (`kappa.io.input_files`
chooses them), plain or gzip.

Every raw record either becomes a valid `Order` or a `DeadLetter` with its reason and its origin (the
file and the byte offset of its line, or of its Avro block and its index there); the counters
`kappa/records_in` and `kappa/dead_letters` let a run reconcile what came in with what came out.
Both batch plans read files the same way, by byte-range splits (`kappa.io.splits`). Avro files are
read with the registry's current `Order` schema as the reader schema, so archives written with any
compatible older version resolve into today's contract.
"""
from __future__ import annotations

import contextlib
import gzip
import zlib
from typing import Any, BinaryIO, Callable, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

import apache_beam as beam
import fastavro
from fastavro.read import SchemaResolutionError
from apache_beam.pvalue import PCollection

from kappa.io import orders
from kappa.io.dead_letter import DEAD_LETTER_TAG, DeadLetter
from kappa.io.input_files import InputFile, RecordFormat, select_inputs
from kappa.io.schema_compat import read_plan, resolution_problems
from kappa.io.schema_registry import SchemaRegistry
from kappa.io.splits import FileSplit, seek_past_sync
from kappa.transforms import metrics
from kappa.transforms.aggregation import WindowedAggregation, WindowPartials
from kappa.transforms.windowing import WindowSpec

RawRecord = Union[bytes, dict]  # a JSON line's bytes, or an Avro record
BOM = b"\xef\xbb\xbf"
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


class _Cursor:
    """Where the record last read was, for the origin of its dead letter: computed only when one is made."""

    __slots__ = ("path", "offset", "index")

    def __init__(self, path: str):
        self.path = path
        self.offset = 0
        self.index: Optional[int] = None

    def origin(self) -> str:
        """`<path>@<offset of the line>`, or `<path>@<offset of the Avro block>#<index in the block>`."""
        where = f"{self.path}@{self.offset}"
        return where if self.index is None else f"{where}#{self.index}"


@contextlib.contextmanager
def _open(file: InputFile) -> Iterator[BinaryIO]:
    with open(file.path, "rb") as fileobj:
        if file.gzip:
            with gzip.GzipFile(fileobj=fileobj) as stream:
                yield stream
        else:
            yield fileobj


def _unreadable(path: str, what: str, err: Exception, origin: str) -> DeadLetter:
    return DeadLetter(record=path, error=f"unreadable {what}: {type(err).__name__}: {err}", origin=origin)


def _avro_records(fileobj, reader_schema: dict, split: Optional[FileSplit], cursor: _Cursor,
                  failures: List[DeadLetter]) -> Iterator[dict]:
    """The records of one Avro file (or of the blocks that begin in `split`) resolved into
    `reader_schema`, timestamp-millis fields as epoch milliseconds.

    A file whose header cannot be read or whose writer schema cannot be resolved is one dead letter
    naming the file (origin `<path>`), reported by the file's first split only, so a file counts once
    however it is split; a file that breaks off mid-way, one naming the block where reading stopped
    (`<path>@<block offset>`, with `#<index>` when a record in it could not be decoded), after the
    records before it.
    """
    path = cursor.path
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
            failures.append(_unreadable(path, "Avro file", err, path))
        return
    read, (writer, reader, defaults) = fastavro.schemaless_reader, plan
    try:
        sync = blocks._header["sync"]  # fastavro keeps the header private; Beam's avroio reads it the same way
        if split is not None and not split.first and not seek_past_sync(fileobj, sync, split.start):
            return
        end = split.end if split is not None else None
        position = fileobj.tell()
        while end is None or position < end:  # a block that begins past the split is not read at all
            cursor.offset, cursor.index = position, None
            block = next(blocks, None)
            if block is None:
                return
            data = block.bytes_
            for index in range(block.num_records):
                cursor.index = index
                record = read(data, writer, reader)
                if defaults:
                    record.update(defaults)
                yield record
            position = block.offset + block.size
    except Exception as err:
        failures.append(_unreadable(path, "Avro file", err, cursor.origin()))


def _lines(fileobj, split: Optional[FileSplit], cursor: _Cursor, failures: List[DeadLetter]) -> Iterator[bytes]:
    """The lines of a file, or those that begin in `split`, as bytes without their line ending; a BOM
    before the first line is dropped. Decoding them is the parser's: strictly, so no byte is lost."""
    position, end = 0, None
    if split is not None:
        end = split.end
        if split.start > 0:
            fileobj.seek(split.start - 1)
            fileobj.readline()  # the end of the line that began in the previous split
            position = fileobj.tell()
    try:
        if position == 0 and end != 0:
            first = fileobj.readline()
            if not first:
                return
            position = len(first)
            yield (first[len(BOM):] if first.startswith(BOM) else first).rstrip(b"\r\n")
        for raw in fileobj:
            if end is not None and position >= end:
                return
            cursor.offset = position
            position += len(raw)
            yield raw.rstrip(b"\r\n")
    except _GZIP_ERRORS as err:
        failures.append(_unreadable(cursor.path, "gzip file", err, cursor.path))


def _records(file: InputFile, fileobj, reader_schema: dict, split: Optional[FileSplit], cursor: _Cursor,
             failures: List[DeadLetter]) -> Iterator[RawRecord]:
    if file.format is RecordFormat.AVRO:
        return _avro_records(fileobj, reader_schema, split, cursor, failures)
    return _lines(fileobj, split, cursor, failures)


def read_split(split: FileSplit, parser: orders.OrderParser, reader_schema: dict,
               dead_letters: List[DeadLetter]) -> Iterator[orders.Order]:
    """The valid orders of a split, in file order; its dead letters go to `dead_letters`, each with
    the origin of its record. Reading and parsing in one pass: a backfill does this per record."""
    file = split.file
    cursor = _Cursor(file.path)
    parse = parser.from_mapping if file.format is RecordFormat.AVRO else parser.from_json
    with _open(file) as fileobj:
        for raw in _records(file, fileobj, reader_schema, None if file.gzip else split, cursor, dead_letters):
            try:
                yield parse(raw)
            except orders.InvalidRecord as err:
                dead_letters.append(DeadLetter(record=raw, error=str(err), origin=cursor.origin()))


def iter_records(files: Iterable[InputFile],
                 reader_schema: Optional[dict] = None) -> Iterator[Tuple[Union[RawRecord, DeadLetter], str]]:
    """(raw record, origin) for every record of the files, files in the given order, records in file
    order (for replay); a file that cannot be read (all or in part) ends with its `DeadLetter`."""
    reader_schema = reader_schema or SchemaRegistry().latest(orders.SUBJECT)
    for file in files:
        cursor, failures = _Cursor(file.path), []
        with _open(file) as fileobj:
            for raw in _records(file, fileobj, reader_schema, None, cursor, failures):
                yield raw, cursor.origin()
        for dead_letter in failures:
            yield dead_letter, dead_letter.origin


def iter_raw_records(path: str, fmt: Optional[RecordFormat] = None) -> Iterator[Union[RawRecord, DeadLetter]]:
    """Every raw record of an input (a file, a folder or a glob; each file in its own format unless
    `fmt` forces one), as `iter_records` gives them, without their origins."""
    return (raw for raw, _ in iter_records(select_inputs(path, fmt).files))


class ParsedEvents(NamedTuple):
    valid: PCollection
    dead_letters: PCollection


def parse_records(records: Iterable[Tuple[Any, Optional[str]]], parse: Callable[[Any], Any]) -> Iterator[Any]:
    """Each (raw record, origin) as an event, or as a `DeadLetter` with the reason it breaks the contract."""
    for raw, origin in records:
        if isinstance(raw, DeadLetter):
            yield raw
            continue
        try:
            yield parse(raw)
        except orders.InvalidRecord as err:
            yield DeadLetter(record=raw, error=str(err), origin=origin)


class _ParseDoFn(beam.DoFn):
    def __init__(self, parse: Callable[[Any], Any]):
        self._parse = parse
        self._records_in = metrics.counter(metrics.RECORDS_IN)
        self._dead_letters = metrics.counter(metrics.DEAD_LETTERS)

    def process(self, raw: Any) -> Iterable:
        self._records_in.inc()
        for event in parse_records(((raw, None),), self._parse):
            if isinstance(event, DeadLetter):
                self._dead_letters.inc()
                yield beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, event)
            else:
                yield event


class _ReadSplit(beam.DoFn):
    """One file split read and parsed in a single pass; its valid orders come out one by one, or, with
    an aggregation, folded into partial aggregates (`WindowPartials`)."""

    def __init__(self, parser: orders.OrderParser, reader_schema: dict,
                 aggregation: Optional[WindowedAggregation] = None, spec: Optional[WindowSpec] = None):
        self._parser = parser
        self._reader_schema = reader_schema
        self._aggregation = aggregation
        self._spec = spec
        self._records_in = metrics.counter(metrics.RECORDS_IN)
        self._dead_letters = metrics.counter(metrics.DEAD_LETTERS)

    def process(self, split: FileSplit) -> Iterable:
        dead_letters: List[DeadLetter] = []
        events = read_split(split, self._parser, self._reader_schema, dead_letters)
        if self._aggregation is not None:
            partials = WindowPartials(self._aggregation, self._spec)
            valid = partials.add_all(events)
            yield from partials.partials()
        else:
            valid = 0
            for valid, event in enumerate(events, start=1):
                yield event
        self._records_in.inc(valid + len(dead_letters))
        self._dead_letters.inc(len(dead_letters))
        for dead_letter in dead_letters:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, dead_letter)


class ReadSplits(beam.PTransform):
    """File splits -> `ParsedEvents(valid=Order..., dead_letters=DeadLetter...)`: a backfill's read
    for the per-element plan, the same read as `PreAggregateSplits` without the fold."""

    def __init__(self, parser: orders.OrderParser):
        super().__init__()
        self._parser = parser

    def expand(self, splits):
        read = _ReadSplit(self._parser, SchemaRegistry().latest(orders.SUBJECT))
        return _tagged(splits, "ReadParse", beam.ParDo(read).with_output_types(orders.Order))


class PreAggregateSplits(beam.PTransform):
    """File splits -> `ParsedEvents(valid=timestamped (key, accumulator) partials, dead_letters)`: the
    backfill plan of `WindowedAggregation`, which `MergePartials` completes."""

    def __init__(self, parser: orders.OrderParser, aggregation: WindowedAggregation, spec: WindowSpec):
        super().__init__()
        self._parser = parser
        self._aggregation = aggregation
        self._spec = spec

    def expand(self, splits):
        read = _ReadSplit(self._parser, SchemaRegistry().latest(orders.SUBJECT), self._aggregation, self._spec)
        return _tagged(splits, "ReadParseAggregate", beam.ParDo(read))


def order_parser(fmt: Optional[RecordFormat],
                 max_event_time_skew_ms: int = orders.DEFAULT_MAX_EVENT_TIME_SKEW_MS) -> Callable[[Any], orders.Order]:
    """The parse for raw records of `fmt`; None: either format, told apart by the record's type."""
    parser = orders.OrderParser(max_event_time_skew_ms)
    return {RecordFormat.JSONL: parser.from_json, RecordFormat.AVRO: parser.from_mapping}.get(fmt, parser.parse)


class ParseOrders(beam.PTransform):
    """Raw records -> `ParsedEvents(valid=Order..., dead_letters=DeadLetter...)`; never raises on bad input."""

    def __init__(self, parse: Callable[[Any], orders.Order]):
        super().__init__()
        self._parse = parse

    def expand(self, raw):
        return _split(raw, self._parse, orders.Order)


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
    return _tagged(raw, "Parse", parse_each)


def _tagged(pcoll: PCollection, label: str, pardo: beam.ParDo) -> ParsedEvents:
    """A ParDo whose dead letters go to their tagged output, applied."""
    parsed = pcoll | label >> pardo.with_outputs(DEAD_LETTER_TAG, main="valid")
    return ParsedEvents(valid=parsed.valid, dead_letters=parsed[DEAD_LETTER_TAG])
