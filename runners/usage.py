"""How `kappa` explains itself: help that states every default, and a page per pipeline.

`kappa run --help` lists the pipelines; `kappa run NAME --help` adds that pipeline's inputs, outputs and
default windowing, read from its definition and its schemas, so the page follows the code.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, List

from kappa.io import writers
from kappa.io.schema_registry import SchemaRegistry
from kappa.pipelines import registry
from kappa.pipelines.registry import PipelineDefinition


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every flag's help ends with its default, unless the help already says what it is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text or action.default is argparse.SUPPRESS:
            return text
        if action.default is None:
            return text
        shown = "off" if action.default is False else "%(default)s"
        return f"{text} (default: {shown})"


def pipelines_list() -> str:
    lines = ["pipelines:"]
    for name in registry.names():
        definition = registry.get(name)
        lines.append(f"  {name:<22} {definition.description} [{definition.default_spec.describe()}]")
    lines.append("`kappa run NAME --help` shows a pipeline's inputs, outputs and default windowing.")
    return "\n".join(lines)


class RunHelp(argparse.Action):
    """-h/--help of `kappa run`: the flags and the pipelines; after a pipeline's name, that pipeline too."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        name = getattr(namespace, "pipeline", None)
        page = parser.format_help()
        if name is not None:
            try:
                definition = registry.get(name)
            except KeyError as err:
                parser.error(err.args[0])
            page = pipeline_page(definition) + "\n\n" + page
        sys.stdout.write(page)
        parser.exit()


def pipeline_page(definition: PipelineDefinition) -> str:
    schemas = SchemaRegistry()
    event_versions = schemas.versions(definition.input_subject)
    result_versions = schemas.versions(definition.name)
    lines = [
        f"{definition.name}: {definition.description}",
        "",
        f"inputs: {definition.input_subject!r} events (schema v{event_versions[-1]}; archives written "
        f"with v{event_versions[0]}..v{event_versions[-1]} resolve into it)",
        "  batch, replay: --input, JSON Lines (one JSON object per line) or Avro container files",
        "  stream:        --input-topic, Avro in the Confluent wire format or JSON",
        *_fields(schemas.latest(definition.input_subject)),
        f"outputs: one {definition.name!r} result per pane (schema v{result_versions[-1]})",
        f"  batch, replay: --output DIR: {writers.RESULTS}-*.jsonl, {writers.DEAD_LETTERS}-*.jsonl "
        f"({{\"record\", \"error\"}} per line), {writers.SUMMARY}",
        "  stream:        --output-topic, keyed by window; --dead-letter-topic",
        *_fields(schemas.latest(definition.name)),
        f"default windowing: {definition.default_spec.describe()} (the windowing flags below change it; "
        "--mode batch gives one final pane per window)",
    ]
    return "\n".join(lines)


def _fields(schema: dict) -> List[str]:
    rows = []
    for field in schema["fields"]:
        kind = _type_name(field["type"])
        if "default" in field:
            kind += f" = {json.dumps(field['default'])}"
        rows.append(f"    {field['name']:<14} {kind:<24} {field.get('doc', '')}".rstrip())
    return rows


def _type_name(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        return " | ".join(_type_name(t) for t in avro_type)
    if isinstance(avro_type, dict):
        if "logicalType" in avro_type:
            return avro_type["logicalType"]
        if avro_type.get("type") == "enum":
            return "|".join(avro_type["symbols"])
        return str(avro_type.get("type"))
    return str(avro_type)
