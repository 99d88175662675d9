"""Reading one input's events from archives: JSON Lines or Avro container files (`kappa.io.input_files`
chooses them), plain or gzip.

Every raw record either becomes a valid event of the input's contract or a `DeadLetter` with its
reason, its origin (the file and the byte offset of its line, or of its Avro block and its index
there) and its stream. Both batch plans read files the same way, by byte-range splits
(`kappa.io.splits`); each split also reports how many records it read and how many were dead letters
(`Tally` records), so a run reconciles what came in with what came out. Avro files are read with the
contract's current schema as the reader schema, so archives written with any compatible older
version resolve into today's contract. The reader knows no aggregation: a runner that pre-aggregates
hands it a fold for the events it holds (`kappa.pipelines.model.Pipeline.fold`).
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

from kappa.io.contracts import Contract
from kappa.io.dead_letter import DEAD_LETTER_TAG, DeadLetter
from kappa.io.input_files import InputFile, RecordFormat, select_inputs
from kappa.io.contracts import InvalidRecord
from kappa.io.schema_compat import read_plan, resolution_problems
from kappa.io.splits import FileSplit, seek_past_sync
from kappa.transforms import metrics
from kappa.transforms.aggregation import Fold
from kappa.transforms.lateness import LateRecord
from kappa.transforms.tally import DEAD_LETTERS, RECORDS_IN, Tally
from kappa.transforms.windowing import in_global_window

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


def read_split(split: FileSplit, parser: Any, reader_schema: dict,
               dead_letters: List[DeadLetter]) -> Iterator[Any]:
    """The valid events of a split, in file order; its dead letters go to `dead_letters`, each with
    the origin of its record. Reading and parsing in one pass: a backfill does this per record."""
    file = split.file
    cursor = _Cursor(file.path)
    parse = parser.from_mapping if file.format is RecordFormat.AVRO else parser.from_json
    with _open(file) as fileobj:
        for raw in _records(file, fileobj, reader_schema, None if file.gzip else split, cursor, dead_letters):
            try:
                yield parse(raw)
            except InvalidRecord as err:
                dead_letters.append(DeadLetter(record=raw, error=str(err), origin=cursor.origin()))


def iter_records(files: Iterable[InputFile],
                 reader_schema: dict) -> Iterator[Tuple[Union[RawRecord, DeadLetter], str]]:
    """(raw record, origin) for every record of the files, files in the given order, records in file
    order (for replay); a file that cannot be read (all or in part) ends with its `DeadLetter`."""
    for file in files:
        cursor, failures = _Cursor(file.path), []
        with _open(file) as fileobj:
            for raw in _records(file, fileobj, reader_schema, None, cursor, failures):
                yield raw, cursor.origin()
        for dead_letter in failures:
            yield dead_letter, dead_letter.origin


def iter_raw_records(path: str, reader_schema: dict,
                     fmt: Optional[RecordFormat] = None) -> Iterator[Union[RawRecord, DeadLetter]]:
    """Every raw record of an input (a file, a folder or a glob; each file in its own format unless
    `fmt` forces one), as `iter_records` gives them, without their origins."""
    return (raw for raw, _ in iter_records(select_inputs(path, fmt).files, reader_schema))


def check_contract(stream: str, reader_schema: dict, files: Iterable[InputFile]) -> None:
    """Raises ValueError (one line) when an Avro file of the input holds records of another contract
    (another record name): the archive was bound to the wrong input. A file of the same record that
    cannot be resolved, or cannot be read, is the reader's to report, as a dead letter."""
    wanted = _full_name(reader_schema)
    for file in files:
        if file.format is not RecordFormat.AVRO:
            continue
        try:
            with _open(file) as fileobj:
                writer_name = _full_name(fastavro.reader(fileobj).writer_schema)
        except Exception:  # fastavro raises many types for a corrupt header: a dead letter, when read
            continue
        if writer_name != wanted:
            raise ValueError(f"input {stream}: {file.path} holds {writer_name} records, not {wanted}: "
                             f"is it another input's archive?")


def _full_name(schema: Any) -> Optional[str]:
    if not isinstance(schema, dict) or "name" not in schema:
        return None
    name, namespace = schema["name"], schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


class ParsedEvents(NamedTuple):
    """What a source makes of one input: its valid events (or their partials), its dead letters, and
    where the source owns the watermark its too-late records; a file source also its `Tally`."""

    valid: PCollection
    dead_letters: PCollection
    late: Optional[PCollection] = None
    tally: Optional[PCollection] = None


def parse_records(records: Iterable[Tuple[Any, Optional[str]]], parse: Callable[[Any], Any],
                  stream: Optional[str] = None) -> Iterator[Any]:
    """Each (raw record, origin) as an event, or as a `DeadLetter` with the reason it breaks the contract."""
    for raw, origin in records:
        if isinstance(raw, DeadLetter):
            yield raw._replace(stream=stream)
            continue
        try:
            yield parse(raw)
        except InvalidRecord as err:
            yield DeadLetter(record=raw, error=str(err), origin=origin, stream=stream)


def raw_parser(parser: Any, fmt: Optional[RecordFormat]) -> Callable[[Any], Any]:
    """The parse for raw records of `fmt`; None: either format, told apart by the record's type."""
    return {RecordFormat.JSONL: parser.from_json, RecordFormat.AVRO: parser.from_mapping}.get(fmt, parser.parse)


TALLY_TAG = "tally"


class _ReadSplit(beam.DoFn):
    """One file split read and parsed in a single pass; its valid events come out one by one, stamped
    with their event time, or, with a fold, as what the fold makes of them all."""

    def __init__(self, stream: str, contract: Contract, parser: Any, fold: Optional[Fold] = None):
        self._stream = stream
        self._parser = parser
        self._reader_schema = contract.schema
        self._event_time_field = contract.event_time_field
        self._fold = fold
        self._records_in = metrics.counter(metrics.RECORDS_IN)  # the live progress display

    def process(self, split: FileSplit) -> Iterable:
        dead_letters: List[DeadLetter] = []
        events = read_split(split, self._parser, self._reader_schema, dead_letters)
        if self._fold is not None:
            held = list(events)
            valid = len(held)
            yield from self._fold(held)
        else:
            valid, field = 0, self._event_time_field
            for valid, event in enumerate(events, start=1):
                yield in_global_window(event, getattr(event, field))
        self._records_in.inc(valid + len(dead_letters))
        yield beam.pvalue.TaggedOutput(TALLY_TAG, Tally(self._stream, RECORDS_IN, valid + len(dead_letters)))
        if dead_letters:
            yield beam.pvalue.TaggedOutput(TALLY_TAG, Tally(self._stream, DEAD_LETTERS, len(dead_letters)))
        for dead_letter in dead_letters:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, dead_letter._replace(stream=self._stream))


class ReadSplits(beam.PTransform):
    """File splits of one input -> `ParsedEvents(valid, dead_letters, tally=...)`: valid events of its
    contract stamped with their event time, or with `fold`, the partials it folds them into."""

    def __init__(self, stream: str, contract: Contract, parser: Any, fold: Optional[Fold] = None):
        super().__init__()
        self._read = _ReadSplit(stream, contract, parser, fold)
        self._record_type = None if fold is not None else contract.record_type

    def expand(self, splits):
        read = beam.ParDo(self._read)
        if self._record_type is not None:
            read = read.with_output_types(self._record_type)
        parsed = splits | "ReadParse" >> read.with_outputs(DEAD_LETTER_TAG, TALLY_TAG, main="valid")
        return ParsedEvents(valid=parsed.valid, dead_letters=parsed[DEAD_LETTER_TAG], tally=parsed[TALLY_TAG])


LATE_TAG = "late"


class _Sort(beam.DoFn):
    def __init__(self, stream: str):
        self._stream = stream

    def process(self, decoded: Any) -> Iterable:
        if isinstance(decoded, DeadLetter):
            yield beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, decoded._replace(stream=self._stream))
        elif isinstance(decoded, LateRecord):
            yield beam.pvalue.TaggedOutput(LATE_TAG, decoded)
        else:
            yield decoded


class SortDecoded(beam.PTransform):
    """Decoded events mixed with DeadLetters and LateRecords, as a source that decodes as it reads
    emits them -> `ParsedEvents(valid, dead_letters, late)`. `record_type` types the valid output;
    None leaves it to inference (partial aggregates)."""

    def __init__(self, stream: str, record_type: Optional[type]):
        super().__init__()
        self._stream = stream
        self._record_type = record_type

    def expand(self, decoded):
        sort = beam.ParDo(_Sort(self._stream))
        if self._record_type is not None:
            sort = sort.with_output_types(self._record_type)
        parsed = decoded | "Sort" >> sort.with_outputs(DEAD_LETTER_TAG, LATE_TAG, main="valid")
        return ParsedEvents(valid=parsed.valid, dead_letters=parsed[DEAD_LETTER_TAG], late=parsed[LATE_TAG])
