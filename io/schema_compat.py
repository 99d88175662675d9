"""Can data written with one Avro schema be read with another? The schema-resolution rules of the Avro spec.

`resolution_problems(writer, reader)` lists why a reader schema cannot read a writer's data (an empty
list means it can). The registry builds BACKWARD / FORWARD / FULL checks on top of it. Schemas are
taken as fastavro parses them (`fastavro.parse_schema`), so named types are resolved by full name.
"""
from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional

import fastavro

Schema = Any  # a parsed Avro schema: a type name, a dict, or a list (union)

_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "double": {"double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
    "boolean": {"boolean"},
    "null": {"null"},
}
_NAMED = {"record", "error", "enum", "fixed"}


def _collect_named(schema: Schema, names: Dict[str, dict]) -> None:
    if isinstance(schema, list):
        for branch in schema:
            _collect_named(branch, names)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in _NAMED and "name" in schema:
            names[schema["name"]] = schema
        if kind in ("record", "error"):
            for field in schema.get("fields", []):
                _collect_named(field["type"], names)
        elif kind == "array":
            _collect_named(schema["items"], names)
        elif kind == "map":
            _collect_named(schema["values"], names)
        elif isinstance(kind, (dict, list)):
            _collect_named(kind, names)


class _Resolver:
    def __init__(self, writer: Schema, reader: Schema):
        self.writer_names: Dict[str, dict] = {}
        self.reader_names: Dict[str, dict] = {}
        _collect_named(writer, self.writer_names)
        _collect_named(reader, self.reader_names)
        self._in_progress: set = set()

    def _deref(self, schema: Schema, names: Dict[str, dict]) -> Schema:
        while True:
            if isinstance(schema, str) and schema in names:
                schema = names[schema]
            elif isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
                schema = schema["type"]
            elif isinstance(schema, dict) and isinstance(schema.get("type"), str) and schema["type"] in names \
                    and schema["type"] not in _PROMOTIONS:
                schema = names[schema["type"]]
            else:
                return schema

    @staticmethod
    def _kind(schema: Schema) -> str:
        if isinstance(schema, list):
            return "union"
        if isinstance(schema, dict):
            return schema["type"]
        return schema

    @staticmethod
    def _short(name: str) -> str:
        return name.rsplit(".", 1)[-1]

    def _names_match(self, writer: dict, reader: dict) -> bool:
        accepted = {self._short(reader["name"])} | {self._short(a) for a in reader.get("aliases", [])}
        return self._short(writer["name"]) in accepted

    def problems(self, writer: Schema, reader: Schema, path: str) -> List[str]:
        writer = self._deref(writer, self.writer_names)
        reader = self._deref(reader, self.reader_names)
        w_kind, r_kind = self._kind(writer), self._kind(reader)

        if w_kind == "union":
            found: List[str] = []
            for i, branch in enumerate(writer):
                found += self.problems(branch, reader, f"{path}<union branch {i}>")
            return found
        if r_kind == "union":
            for branch in reader:
                if not self.problems(writer, branch, path):
                    return []
            return [f"{path}: writer type {w_kind} matches no branch of the reader's union"]

        if w_kind in _PROMOTIONS and r_kind in _PROMOTIONS:
            if r_kind in _PROMOTIONS[w_kind]:
                return []
            return [f"{path}: writer type {w_kind} cannot be read as {r_kind}"]
        if w_kind != r_kind and not ({w_kind, r_kind} <= {"record", "error"}):
            return [f"{path}: writer type {w_kind} cannot be read as {r_kind}"]

        if w_kind in ("record", "error"):
            return self._record_problems(writer, reader, path)
        if w_kind == "enum":
            if not self._names_match(writer, reader):
                return [f"{path}: enum name {writer['name']} does not match {reader['name']}"]
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                return [f"{path}: reader enum lacks symbols {missing} and has no default"]
            return []
        if w_kind == "fixed":
            if not self._names_match(writer, reader) or writer["size"] != reader["size"]:
                return [f"{path}: fixed {writer['name']}[{writer['size']}] does not match "
                        f"{reader['name']}[{reader['size']}]"]
            return []
        if w_kind == "array":
            return self.problems(writer["items"], reader["items"], f"{path}[]")
        if w_kind == "map":
            return self.problems(writer["values"], reader["values"], f"{path}{{}}")
        return [f"{path}: unknown type {w_kind}"]

    def _record_problems(self, writer: dict, reader: dict, path: str) -> List[str]:
        if not self._names_match(writer, reader):
            return [f"{path}: record name {writer['name']} does not match {reader['name']}"]
        key = (writer["name"], reader["name"])
        if key in self._in_progress:  # recursive types: assume the cycle resolves
            return []
        self._in_progress.add(key)
        written = {f["name"]: f for f in writer["fields"]}
        found: List[str] = []
        for field in reader["fields"]:
            source: Optional[dict] = written.get(field["name"])
            if source is None:
                source = next((written[a] for a in field.get("aliases", []) if a in written), None)
            where = f"{path}.{field['name']}"
            if source is not None:
                found += self.problems(source["type"], field["type"], where)
            elif "default" not in field:
                found.append(f"{where}: reader field is missing from the writer and has no default")
        self._in_progress.discard(key)
        return found


def resolution_problems(writer: Schema, reader: Schema) -> List[str]:
    """Why `reader` cannot read data written with `writer`; empty when it can."""
    return _Resolver(writer, reader).problems(writer, reader, "$")


_DEFAULT_TYPES = {"null": type(None), "boolean": bool, "int": int, "long": int, "float": float,
                  "double": float, "string": str}


def _plain_default(field: dict) -> bool:
    """The field's default is a primitive that Avro resolution hands over unchanged."""
    kind = field["type"]
    first = kind[0] if isinstance(kind, list) else kind
    return (isinstance(first, str) and first in _DEFAULT_TYPES and "default" in field
            and type(field["default"]) is _DEFAULT_TYPES[first])


def _plain_type(kind: Schema) -> bool:
    if isinstance(kind, list):
        return all(isinstance(branch, str) and branch in _PROMOTIONS for branch in kind)
    if isinstance(kind, dict):
        return set(kind) <= {"type", "logicalType"} and kind.get("type") in _PROMOTIONS
    return kind in _PROMOTIONS


def trailing_defaults(writer: Schema, reader: Schema) -> Optional[Dict[str, Any]]:
    """The reader fields to add to each writer record when resolution would only append defaults.

    fastavro decodes about twice as fast without a reader schema, so a record schema that is the
    reader's first fields with identical primitive types, followed by reader fields with primitive
    defaults, is read as written and given those defaults: the same dict, keys in the same order,
    that resolution returns. Any other pair returns None and needs full resolution.
    """
    if not (isinstance(writer, dict) and isinstance(reader, dict) and writer.get("type") == "record"
            and reader.get("type") == "record" and writer.get("name") == reader.get("name")):
        return None
    written, wanted = writer["fields"], reader["fields"]
    if len(written) > len(wanted):
        return None
    for source, field in zip(written, wanted):
        if source["name"] != field["name"] or source["type"] != field["type"] or not _plain_type(field["type"]):
            return None
    added = wanted[len(written):]
    if not all(_plain_default(field) for field in added):
        return None
    return {field["name"]: field["default"] for field in added}


def timestamps_as_longs(schema: Schema) -> Schema:
    """The schema, parsed, with its timestamp-millis fields as plain longs: fastavro then hands over
    the epoch milliseconds as written instead of building a datetime for each, which the event
    contracts turn straight back into epoch milliseconds (about 2.5 of 8 us per Kafka message)."""
    return fastavro.parse_schema(_without_timestamp_millis(schema))


def _without_timestamp_millis(schema: Schema) -> Schema:
    if isinstance(schema, list):
        return [_without_timestamp_millis(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("logicalType") == "timestamp-millis":
        return {"type": schema["type"]}
    # fastavro's own bookkeeping keys of a parsed schema are left for parse_schema to rebuild
    return {key: _without_timestamp_millis(value) for key, value in schema.items() if not key.startswith("__")}


class ReadPlan(NamedTuple):
    """How fastavro reads records of one writer schema into a reader's: without the reader schema when
    resolution would only append `defaults` (`trailing_defaults`: about twice as fast)."""

    writer: dict
    reader: Optional[dict]
    defaults: Dict[str, Any]


def read_plan(writer: Schema, reader: Schema, timestamps_as_millis: bool = True) -> ReadPlan:
    """With `timestamps_as_millis`, both schemas read timestamp-millis as longs (`timestamps_as_longs`)."""
    if timestamps_as_millis:
        writer, reader = timestamps_as_longs(writer), timestamps_as_longs(reader)
    defaults = trailing_defaults(writer, reader)
    return ReadPlan(writer, None if defaults is not None else reader, defaults or {})
