"""Event contracts derived from the schema registry: a subject's latest version (the reader contract)
and the rules beside it become a record type and a parser from raw records to valid records of it.

Validation is strict because a silently coerced field corrupts every window it lands in: a record that
breaks its contract raises `InvalidRecord` with a one-line reason, and the caller turns it into a dead
letter. A new contract needs only its files: `schemas/<subject>/v<N>.avsc`, and `rules.json` beside
them with the extra rules per field, e.g. `{"amount": ["positive"], "event_time": ["event-time"]}`.

A field, by its Avro type:
- `string`: a str, as it is.
- `double`, `float`: a finite number; an int is converted to float, a bool is refused.
- `long`, `int`: an int in the type's range (64 or 32 bits); a bool is refused.
- `boolean`: a bool. An `enum`: one of its symbols, a str.
- `long` with logicalType `timestamp-millis`: integer epoch milliseconds in 0 .. 253402300799999
  (1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z), or an aware datetime (fastavro's reading
  of it), converted exactly.
- `["null", T]` (either order): None, or a T.
- Missing, or null where its type has no null, it takes the schema's default when it has one, else
  the record is refused ("missing field X"). Fields the schema does not know are ignored.

The rules, after the type's check, in the order listed:
- `non-empty` (strings): NFC-normalised and stripped of surrounding whitespace, the text is refused when
  empty, or holding an invisible or control character (Unicode categories Cc, Cf, Zl, Zp, e.g. U+200B)
  or an unpaired surrogate. So "eu-west " and "eu-west" are one region.
- `positive` (numbers): greater than 0.
- `country-code` (strings): exactly two upper-case ASCII letters A-Z, the ISO 3166-1 alpha-2 shape.
- `event-time` (timestamp-millis, exactly one field per contract): the record's event time, also at most
  the parser's `max_event_time_skew_ms` ahead of the wall clock when the record is read. No producer
  stamps an event that has not happened yet beyond its clock's skew; one such record would move the
  watermark past every window for good.

Any other type (nested records, arrays, maps, fixed, bytes, other logical types and unions), a field
name a Python record cannot have, an unknown rule, a rule on a type it does not apply to or on a field
the schema lacks, and a contract without exactly one `event-time` field are refused when the contract
is built (`InvalidContract`), not when a record is read.

JSON text must be UTF-8 (RFC 8259); a UTF-8 byte order mark at the start of a file is skipped.
"""
from __future__ import annotations

import datetime
import json
import keyword
import math
import threading
import time
import types
import unicodedata
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import apache_beam as beam

from kappa.io import record_types
from kappa.io.schema_registry import SchemaRegistry
from kappa.transforms.windowing import format_duration_ms

RULES_FILE = "rules.json"

MIN_EVENT_TIME_MS = 0
MAX_EVENT_TIME_MS = 253_402_300_799_999
EVENT_TIME_RANGE = (f"{MIN_EVENT_TIME_MS} .. {MAX_EVENT_TIME_MS} ms "
                    "(1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z)")
DEFAULT_MAX_EVENT_TIME_SKEW_MS = 3_600_000


class InvalidRecord(ValueError):
    """The record breaks the event contract; the message is the dead letter's reason."""


class InvalidContract(ValueError):
    """A subject's schema and rules make no contract; the message names the field and why, in one line."""


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
MILLISECOND = datetime.timedelta(milliseconds=1)


def epoch_ms(moment: datetime.datetime) -> int:
    """An aware datetime (fastavro's reading of timestamp-millis) -> epoch milliseconds, exactly."""
    return (moment - EPOCH) // MILLISECOND


def decode_utf8(data: bytes) -> str:
    """Strictly: a byte that is not UTF-8 is refused, never replaced (U+FFFD would pass as a region)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidRecord(f"invalid UTF-8: byte 0x{data[err.start]:02x} at position {err.start} "
                            f"({err.reason})") from None


def json_object(text: Union[str, bytes]) -> dict:
    if type(text) is bytes:
        text = decode_utf8(text)
    try:
        record = json.loads(text)
    except ValueError as err:
        raise InvalidRecord(f"bad JSON: {err}") from None
    if not isinstance(record, dict):
        raise InvalidRecord(f"expected a JSON object, got {type(record).__name__}")
    return record


# ---------------------------------------------------------------------------------------------------
# Checks: one per Avro type and one per rule, each for one field
# ---------------------------------------------------------------------------------------------------

class _Check(NamedTuple):
    """`apply` turns a value into what the record holds, or raises InvalidRecord (the field-by-field path);
    `condition` is a Python expression over the value `{v}`, true only for a value that `apply` keeps as
    it is (the fast path). A rule's condition may assume its type's condition holds."""

    apply: Callable[[Any], Any]
    condition: str


def _kept(value: Any) -> Any:
    return value


def _string(name: str) -> _Check:
    def apply(value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidRecord(f"field {name} must be a string, got {type(value).__name__}")
        return value
    return _Check(apply, "type({v}) is str")


def _number(name: str) -> _Check:
    def apply(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidRecord(f"field {name} must be a number, got {type(value).__name__}")
        try:
            value = float(value)
        except OverflowError:
            raise InvalidRecord(f"field {name} must be finite, got an integer too large for a double") from None
        if not math.isfinite(value):
            raise InvalidRecord(f"field {name} must be finite, got {value}")
        return value
    return _Check(apply, "type({v}) is float and -_INF < {v} < _INF")


def _integer(bits: int) -> Callable[[str], _Check]:
    low, high = -2 ** (bits - 1), 2 ** (bits - 1) - 1

    def check(name: str) -> _Check:
        def apply(value: Any) -> int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRecord(f"field {name} must be an integer, got {type(value).__name__}")
            if not low <= value <= high:
                raise InvalidRecord(f"{name} out of range: {value} is not in {low} .. {high}")
            return value
        return _Check(apply, f"type({{v}}) is int and {low} <= {{v}} <= {high}")
    return check


def _boolean(name: str) -> _Check:
    def apply(value: Any) -> bool:
        if not isinstance(value, bool):
            raise InvalidRecord(f"field {name} must be a boolean, got {type(value).__name__}")
        return value
    return _Check(apply, "type({v}) is bool")


def _enum(symbols: Sequence[str]) -> Callable[[str], _Check]:
    known, listed = frozenset(symbols), ", ".join(symbols)

    def check(name: str) -> _Check:
        def apply(value: Any) -> str:
            if not isinstance(value, str):
                raise InvalidRecord(f"field {name} must be a string, got {type(value).__name__}")
            if value not in known:
                raise InvalidRecord(f"field {name} must be one of {listed}, got {value!r}")
            return value
        return _Check(apply, "type({v}) is str and {v} in {" + ", ".join(map(repr, symbols)) + "}")
    return check


def _timestamp_millis(name: str) -> _Check:
    def apply(value: Any) -> int:
        if isinstance(value, datetime.datetime):  # fastavro decodes timestamp-millis to an aware datetime
            if value.utcoffset() is None:
                raise InvalidRecord(f"field {name} must be integer epoch milliseconds, "
                                    "got a datetime without a time zone")
            value = epoch_ms(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRecord(f"field {name} must be integer epoch milliseconds, got {type(value).__name__}")
        if not MIN_EVENT_TIME_MS <= value <= MAX_EVENT_TIME_MS:
            raise InvalidRecord(f"{name} out of range: {value} is not in {EVENT_TIME_RANGE}")
        return value
    return _Check(apply, f"type({{v}}) is int and {MIN_EVENT_TIME_MS} <= {{v}} <= {MAX_EVENT_TIME_MS}")


_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}


def _non_empty(name: str) -> _Check:
    def apply(value: str) -> str:
        if not value.isascii():
            value = unicodedata.normalize("NFC", value)
        value = value.strip()
        if not value:
            raise InvalidRecord(f"field {name} is empty")
        if not value.isprintable():
            for char in value:
                category = unicodedata.category(char)
                if category in _INVISIBLE:
                    raise InvalidRecord(f"field {name} contains an invisible character U+{ord(char):04X}")
                if category == "Cs":  # JSON's "\ud800" decodes to one; no UTF-8 writer can encode it
                    raise InvalidRecord(f"field {name} contains an unpaired surrogate U+{ord(char):04X}")
        return value
    # Printable ASCII is already NFC and holds no invisible character.
    return _Check(apply, "{v} and {v}.isascii() and {v}.isprintable() and {v}.strip() == {v}")


def _positive(name: str) -> _Check:
    def apply(value: Union[int, float]) -> Union[int, float]:
        if not value > 0:
            raise InvalidRecord(f"field {name} must be positive, got {value}")
        return value
    return _Check(apply, "{v} > 0")


def _country_code(name: str) -> _Check:
    def apply(value: str) -> str:
        if not (len(value) == 2 and value.isascii() and value.isalpha() and value.isupper()):
            raise InvalidRecord(f"field {name} must be two upper-case letters A-Z, got {value!r}")
        return value
    return _Check(apply, "len({v}) == 2 and {v}.isascii() and {v}.isalpha() and {v}.isupper()")


def _event_time(name: str) -> _Check:
    # Checked against the clock by the parser, once the whole record is valid.
    return _Check(_kept, "{v} <= self._latest_ms")


EVENT_TIME_RULE = "event-time"
# rule -> (its check, the types it applies to)
_RULES: Dict[str, Tuple[Callable[[str], _Check], Tuple[str, ...]]] = {
    "non-empty": (_non_empty, ("string",)),
    "positive": (_positive, ("int", "long", "float", "double")),
    "country-code": (_country_code, ("string",)),
    EVENT_TIME_RULE: (_event_time, ("timestamp-millis",)),
}

# Avro type -> (Python annotation, its check)
_TYPES: Dict[str, Tuple[type, Callable[[str], _Check]]] = {
    "string": (str, _string),
    "double": (float, _number),
    "float": (float, _number),
    "long": (int, _integer(64)),
    "int": (int, _integer(32)),
    "boolean": (bool, _boolean),
    "timestamp-millis": (int, _timestamp_millis),
}


# ---------------------------------------------------------------------------------------------------
# Contracts
# ---------------------------------------------------------------------------------------------------

_NO_DEFAULT = object()
_MISSING = object()  # a field the record lacks


class _Field(NamedTuple):
    name: str
    annotation: Any
    nullable: bool
    default: Any  # _NO_DEFAULT when the schema gives none
    checks: Tuple[_Check, ...]  # the type's, then each rule's

    def apply(self, value: Any) -> Any:
        for check in self.checks:
            value = check.apply(value)
        return value


class _Unsupported(Exception):
    """What a field has that contracts do not support, e.g. "type array"."""


def _type_name(kind: Any) -> str:
    if isinstance(kind, list):
        return "[" + ", ".join(map(_type_name, kind)) + "]"
    if isinstance(kind, dict):
        return kind.get("logicalType") or _type_name(kind.get("type"))
    return str(kind)


def _base_type(kind: Any, named: Mapping[str, dict]) -> Tuple[str, type, Callable[[str], _Check]]:
    """(type name, Python annotation, check) of a type that is not a union."""
    kind = named.get(kind, kind) if isinstance(kind, str) else kind
    if isinstance(kind, dict):
        base, logical = kind.get("type"), kind.get("logicalType")
        if base == "enum":
            return "enum", str, _enum(kind["symbols"])
        if (base, logical) == ("long", "timestamp-millis"):
            return (logical, *_TYPES[logical])
        if logical is not None:
            raise _Unsupported(f"logical type {logical} on {_type_name(base)}")
        kind = base
    if isinstance(kind, str) and kind in _TYPES and kind != "timestamp-millis":
        return (kind, *_TYPES[kind])
    raise _Unsupported(f"type {_type_name(kind)}")


class Contract:
    """A subject's event contract: its latest schema, the record type (a `typing.NamedTuple`, with a
    `RowCoder`) valid records become, and parsers that make them.

    `shared`: the default registry's contract (`contract(subject)`), which a pickled copy rebuilds from
    the schemas where it is unpickled, and whose record type pickle finds by subject
    (`kappa.io.record_types`), so a worker's records are of its own copy of that class.
    """

    def __init__(self, subject: str, schema: Any, rules: Mapping[str, Sequence[str]], shared: bool = False):
        self.subject = subject
        self.schema = schema
        self.rules = rules
        self._shared = shared
        if not (isinstance(schema, dict) and schema.get("type") == "record"):
            raise self._invalid(f"the schema is not a record but {_type_name(schema)}")
        if not (isinstance(rules, Mapping) and all(isinstance(names, list) and all(isinstance(n, str) for n in names)
                                                    for names in rules.values())):
            raise self._invalid(f"{RULES_FILE} must map field names to lists of rule names")
        self.fields = tuple(field["name"] for field in schema["fields"])
        for name in rules:
            if name not in self.fields:
                raise self._invalid(f"{RULES_FILE} has rules for field {name}, which the schema does not have")
        named = schema.get("__named_schemas", {})
        self._fields = tuple(self._field(field, named, rules.get(field["name"], [])) for field in schema["fields"])
        timed = [field.name for field in self._fields if EVENT_TIME_RULE in rules.get(field.name, [])]
        if len(timed) != 1:
            has = f"fields {', '.join(timed)} have" if timed else "no field has"
            raise self._invalid(f"{has} the rule {EVENT_TIME_RULE}; exactly one must")
        self.event_time_field = timed[0]
        self._event_time_index = self.fields.index(self.event_time_field)
        self.record_type = self._record_type(schema["name"].rpartition(".")[2])
        self._from_mapping = self._fast_path()

    def __reduce__(self):
        if self._shared:
            return contract, (self.subject,)
        return Contract, (self.subject, self.schema, self.rules)

    def __repr__(self) -> str:
        return f"Contract({self.subject!r}, {self.record_type.__name__}({', '.join(self.fields)}))"

    def parser(self, max_event_time_skew_ms: int = DEFAULT_MAX_EVENT_TIME_SKEW_MS,
               clock: Callable[[], float] = time.time) -> Parser:
        return Parser(self, max_event_time_skew_ms, clock)

    def _invalid(self, reason: str) -> InvalidContract:
        return InvalidContract(f"contract {self.subject!r}: {reason}")

    def _field(self, field: dict, named: Mapping[str, dict], rules: Sequence[str]) -> _Field:
        name, kind = field["name"], field["type"]
        if keyword.iskeyword(name) or name.startswith("_"):
            raise self._invalid(f"field {name} cannot name a Python record field (a keyword, or a leading underscore)")
        nullable = isinstance(kind, list) and len(kind) == 2 and "null" in kind
        try:
            type_name, annotation, check = _base_type([b for b in kind if b != "null"][0] if nullable else kind, named)
        except _Unsupported as what:
            raise self._invalid(f"field {name} has {what}, which contracts do not support") from None
        checks = [check(name)]
        for rule in rules:
            if rule not in _RULES:
                raise self._invalid(f"unknown rule {rule!r} on field {name} (known: {', '.join(sorted(_RULES))})")
            rule_check, applies_to = _RULES[rule]
            if type_name not in applies_to or (nullable and rule == EVENT_TIME_RULE):
                of_type = f"null or {type_name}" if nullable else type_name
                raise self._invalid(f"rule {rule} does not apply to field {name} of type {of_type} "
                                    f"(only to {', '.join(applies_to)})")
            checks.append(rule_check(name))
        result = _Field(name, Optional[annotation] if nullable else annotation, nullable, _NO_DEFAULT, tuple(checks))
        if "default" not in field:
            return result
        default = field["default"]
        if default is not None or not nullable:
            try:
                default = result.apply(default)
            except InvalidRecord as err:
                raise self._invalid(f"the default of field {name} breaks its contract: {err}") from None
        return result._replace(default=default)

    def _record_type(self, name: str) -> type:
        """The NamedTuple class, with Python defaults for the trailing run of fields that have one."""
        namespace: Dict[str, Any] = {"__annotations__": {f.name: f.annotation for f in self._fields},
                                     "__module__": __name__}
        for field in reversed(self._fields):
            if field.default is _NO_DEFAULT:
                break
            namespace[field.name] = field.default
        record_type = types.new_class(name, (NamedTuple,), exec_body=lambda body: body.update(namespace))
        if self._shared:
            record_type.__module__, record_type.__qualname__ = record_types.__name__, self.subject
        beam.coders.registry.register_coder(record_type, beam.coders.RowCoder)
        return record_type

    def _fast_path(self) -> Callable[[Parser, Mapping[str, Any]], Any]:
        """The parser's `from_mapping`, compiled for this contract (as `collections.namedtuple` compiles
        its `__new__`): the common valid record checked in one expression, since a backfill validates
        millions of them; anything else takes the field-by-field checks, which name what is wrong."""
        env: Dict[str, Any] = {"_INF": math.inf, "_MISSING": _MISSING, "_new": tuple.__new__,
                               "_record_type": self.record_type}
        lines, conditions = ["def from_mapping(self, record):", "    get = record.get"], []
        for index, field in enumerate(self._fields):
            value = f"v{index}"
            if field.default is _NO_DEFAULT:
                fallback = ", _MISSING" if field.nullable else ""
            elif field.default is None:
                fallback = ""
            else:
                env[f"_default{index}"] = field.default
                fallback = f", _default{index}"
            lines.append(f"    {value} = get({field.name!r}{fallback})")
            condition = " and ".join(check.condition.replace("{v}", value) for check in field.checks)
            conditions.append(f"({value} is None or {condition})" if field.nullable else condition)
        values = "".join(f"v{index}, " for index in range(len(self._fields)))
        lines += ["    if (" + "\n            and ".join(conditions) + "):",
                  f"        return _new(_record_type, ({values}))",
                  "    return self._checked(record)"]
        exec(compile("\n".join(lines), f"<contract {self.subject}>", "exec"), env)
        return env["from_mapping"]


class Parser:
    """Raw records -> valid records (`contract.record_type`), including the guard against events from
    the future: an event time more than `max_event_time_skew_ms` ahead of the wall clock when read.

    The limit is kept from the last reading of the clock; only a record beyond it reads the clock
    again before it is refused. Time only moves on, so a kept limit never accepts what the current
    clock would refuse, and a long-running reader's limit moves with time at no cost per valid record.
    Picklable with the default clock: a copy shipped to a worker reads the worker's clock.

    `from_mapping(record)`: a decoded record (a JSON object, an Avro record) -> a valid record; the
    contract's compiled fast path, bound to this parser.
    """

    from_mapping: Callable[[Mapping[str, Any]], Any]

    def __init__(self, contract: Contract, max_event_time_skew_ms: int = DEFAULT_MAX_EVENT_TIME_SKEW_MS,
                 clock: Callable[[], float] = time.time):
        if max_event_time_skew_ms <= 0:
            raise ValueError(f"the maximum event time skew must be positive, got {max_event_time_skew_ms} ms")
        self.contract = contract
        self.max_event_time_skew_ms = max_event_time_skew_ms
        self._clock = clock
        self._too_far_ahead = (f"{contract.event_time_field} too far ahead: more than "
                               f"{format_duration_ms(max_event_time_skew_ms)} after the wall clock when read")
        self._latest_ms = self._read_clock()
        self.from_mapping = types.MethodType(contract._from_mapping, self)

    def __getstate__(self) -> dict:
        return {"contract": self.contract, "max_event_time_skew_ms": self.max_event_time_skew_ms,
                "clock": self._clock}

    def __setstate__(self, state: dict) -> None:
        Parser.__init__(self, **state)

    def _read_clock(self) -> int:
        self._latest_ms = min(int(self._clock() * 1000) + self.max_event_time_skew_ms, MAX_EVENT_TIME_MS)
        return self._latest_ms

    def _checked(self, record: Mapping[str, Any]) -> Any:
        """The field-by-field checks, in schema order: the first field that breaks the contract says why."""
        values: List[Any] = []
        for field in self.contract._fields:
            value = record.get(field.name, _MISSING)
            if value is _MISSING or (value is None and not field.nullable):
                if field.default is _NO_DEFAULT:
                    raise InvalidRecord(f"missing field {field.name}")
                value = field.default
            elif value is not None:
                value = field.apply(value)
            values.append(value)
        event_time = values[self.contract._event_time_index]
        if event_time > self._latest_ms and event_time > self._read_clock():
            raise InvalidRecord(self._too_far_ahead)
        return self.contract.record_type._make(values)

    def from_json(self, text: Union[str, bytes]) -> Any:
        """A JSON object as text, or as the UTF-8 bytes of a line."""
        return self.from_mapping(json_object(text))

    def parse(self, raw: Any) -> Any:
        """A JSON line (bytes or text) or a decoded record (a mapping), told apart by type."""
        if isinstance(raw, (bytes, str)):
            return self.from_json(raw)
        if isinstance(raw, Mapping):
            return self.from_mapping(raw)
        raise InvalidRecord(f"expected a JSON line or a record, got {type(raw).__name__}")


def _read_rules(registry: SchemaRegistry, subject: str) -> Dict[str, List[str]]:
    """The subject's `rules.json` (none: no rules); its shape is checked when the contract is built."""
    path = registry.root / subject / RULES_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise InvalidContract(f"contract {subject!r}: {RULES_FILE} is not JSON: {err}") from None


_SHARED: Dict[str, Contract] = {}
_SHARED_LOCK = threading.Lock()


def contract(subject: str, registry: Optional[SchemaRegistry] = None) -> Contract:
    """The subject's contract: its latest version and its rules. The default registry's are built once
    per process (one record type per subject); another registry's, at each call."""
    if registry is not None:
        return Contract(subject, registry.latest(subject), _read_rules(registry, subject))
    with _SHARED_LOCK:
        if subject not in _SHARED:
            registry = SchemaRegistry()
            _SHARED[subject] = Contract(subject, registry.latest(subject), _read_rules(registry, subject), shared=True)
        return _SHARED[subject]
