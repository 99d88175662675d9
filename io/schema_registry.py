"""A small schema registry: subjects with numbered versions, kept as `.avsc` files.

Layout: `<root>/<subject>/v<N>.avsc`. The package's own `schemas/` folder is the default root, so the
event contracts travel with the code to every worker. A new version is accepted only if it passes the
subject's compatibility mode, checked with the Avro spec's resolution rules:

- BACKWARD: the new schema can read data written with the latest version (consumers upgrade first);
- FORWARD: the latest version can read data written with the new schema (producers upgrade first);
- FULL: both. The `_TRANSITIVE` variants check against every earlier version, not only the latest.

Every schema also has a numeric id, as a Confluent registry gives, for the Kafka wire format. It is
derived from the schema's Parsing Canonical Form fingerprint rather than handed out by a server, so any
copy of the registry (a worker, a consumer on another machine) agrees on it without coordination.
"""
from __future__ import annotations

import enum
import importlib.resources
import json
import re
from pathlib import Path
from typing import Dict, List, Optional, Union

import fastavro
from fastavro.schema import SchemaParseException, UnknownType, fingerprint, to_parsing_canonical_form

from kappa.io.schema_compat import resolution_problems

_VERSION_FILE = re.compile(r"^v(\d+)\.avsc$")


class Compatibility(enum.Enum):
    BACKWARD = "BACKWARD"
    FORWARD = "FORWARD"
    FULL = "FULL"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def checks_backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def checks_forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))


def schema_id(schema: dict) -> int:
    """A positive 31-bit id from the CRC-64-AVRO fingerprint of the canonical form: stable everywhere."""
    return int(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"), 16) & 0x7FFFFFFF


class IncompatibleSchema(ValueError):
    """A proposed version breaks the subject's compatibility mode; the message lists every reason."""


class InvalidSchema(ValueError):
    """Not an Avro schema; the message says why, in one line."""


def parse(schema: Union[str, dict]) -> dict:
    """Parse an Avro schema (JSON text or dict) with fastavro; raises InvalidSchema on an invalid one."""
    raw = json.loads(schema) if isinstance(schema, str) else schema
    if not isinstance(raw, (dict, list, str)):
        raise InvalidSchema(f"a schema is a JSON object, an array (a union) or a type name, "
                            f"not {type(raw).__name__} {raw!r}")
    try:
        return fastavro.parse_schema(raw)
    except UnknownType as err:
        name = err.name.get("type") if isinstance(err.name, dict) else err.name
        raise InvalidSchema(f"unknown type {name!r}") from None
    except (SchemaParseException, TypeError, AttributeError) as err:
        raise InvalidSchema(" ".join(str(err).split())) from None


def compatibility_problems(new: dict, existing: List[dict], mode: Compatibility) -> List[str]:
    """Every reason `new` may not follow `existing` (oldest first) under `mode`; empty when it may."""
    if mode is Compatibility.NONE or not existing:
        return []
    first = 0 if mode.transitive else len(existing) - 1
    problems: List[str] = []
    for version, old in enumerate(existing[first:], start=first + 1):
        if mode.checks_backward:
            problems += [f"BACKWARD vs v{version}: {p}" for p in resolution_problems(writer=old, reader=new)]
        if mode.checks_forward:
            problems += [f"FORWARD vs v{version}: {p}" for p in resolution_problems(writer=new, reader=old)]
    return problems


class SchemaRegistry:
    """Subjects and their versions under one folder; versions are numbered from 1 and never rewritten."""

    def __init__(self, root: Optional[Path] = None, compatibility: Compatibility = Compatibility.BACKWARD):
        self.root = Path(root) if root is not None else Path(str(importlib.resources.files("kappa.schemas")))
        self.compatibility = compatibility
        self._cache: Dict[tuple, dict] = {}
        self._by_id: Dict[int, dict] = {}

    def subjects(self) -> List[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, subject: str) -> List[int]:
        folder = self.root / subject
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _VERSION_FILE.match(p.name)))

    def get(self, subject: str, version: Optional[int] = None) -> dict:
        """The parsed schema of a version (the latest when none is given)."""
        versions = self.versions(subject)
        if not versions:
            raise KeyError(f"unknown schema subject {subject!r} in {self.root}")
        version = versions[-1] if version is None else version
        if version not in versions:
            raise KeyError(f"subject {subject!r} has no version {version} (has {versions})")
        key = (subject, version)
        if key not in self._cache:
            self._cache[key] = parse((self.root / subject / f"v{version}.avsc").read_text())
        return self._cache[key]

    def latest(self, subject: str) -> dict:
        return self.get(subject)

    def by_id(self, wanted: int) -> dict:
        """The schema with that id in any subject; KeyError if this registry has none."""
        if not self._by_id:
            for subject in self.subjects():
                for version in self.versions(subject):
                    schema = self.get(subject, version)
                    self._by_id[schema_id(schema)] = schema
        return self._by_id[wanted]

    def check(self, subject: str, schema: Union[str, dict]) -> List[str]:
        """Reasons the schema would be refused as the subject's next version; empty when accepted."""
        existing = [self.get(subject, v) for v in self.versions(subject)]
        return compatibility_problems(parse(schema), existing, self.compatibility)

    def register(self, subject: str, schema: Union[str, dict]) -> int:
        """Add the schema as the next version; returns its number. An identical schema is not re-added."""
        parsed = parse(schema)
        versions = self.versions(subject)
        for version in versions:
            if self.get(subject, version) == parsed:
                return version
        problems = self.check(subject, parsed)
        if problems:
            raise IncompatibleSchema(f"{subject}: " + "; ".join(problems))
        version = (versions[-1] if versions else 0) + 1
        folder = self.root / subject
        folder.mkdir(parents=True, exist_ok=True)
        raw = json.loads(schema) if isinstance(schema, str) else schema
        (folder / f"v{version}.avsc").write_text(json.dumps(raw, indent=2) + "\n")
        self._by_id.clear()
        return version
