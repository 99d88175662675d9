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
from kappa.pipelines.model import Pipeline


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
        pipeline = registry.get(name)
        lines.append(f"  {name:<22} {pipeline.description} [{pipeline.describe_windowing()}]")
    lines.append("`kappa run NAME --help` shows a pipeline's inputs, outputs and default windowing.")
    return "\n".join(lines)


def pipelines_overview() -> str:
    """`kappa pipelines`: each pipeline with its inputs, outputs and windowing."""
    blocks = []
    for name in registry.names():
        pipeline = registry.get(name)
        inputs = ", ".join(f"{stream}: {declared.subject}" for stream, declared in pipeline.inputs.items())
        outputs = ", ".join(f"{output}: {declared.subject}" for output, declared in pipeline.outputs.items())
        blocks.append("\n".join([f"{name}  {pipeline.description}", f"  inputs     {inputs}",
                                 f"  outputs    {outputs}", f"  windowing  {pipeline.describe_windowing()}"]))
    return "\n".join(blocks)


class RunHelp(argparse.Action):
    """-h/--help of `kappa run`: the flags and the pipelines; after a pipeline's name, that pipeline too."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        name = getattr(namespace, "pipeline", None)
        page = parser.format_help()
        if name is not None:
            try:
                pipeline = registry.get(name)
            except KeyError as err:
                parser.error(err.args[0])
            page = pipeline_page(pipeline) + "\n\n" + page
        sys.stdout.write(page)
        parser.exit()


def pipeline_page(pipeline: Pipeline) -> str:
    schemas = SchemaRegistry()
    lines = [f"{pipeline.name}: {pipeline.description}", "", "inputs:",
             "  batch, replay: --input STREAM=PATH, JSON Lines (one JSON object per line) or Avro container files",
             "  stream:        --input-topic STREAM=TOPIC, Avro in the Confluent wire format or JSON"]
    for stream, declared in pipeline.inputs.items():
        versions = schemas.versions(declared.subject)
        lines.append(f"  {stream}: {declared.subject!r} events (schema v{versions[-1]}; archives written with "
                     f"v{versions[0]}..v{versions[-1]} resolve into it), topic {stream}")
        lines += _fields(schemas.latest(declared.subject))
    lines += ["outputs:", "  batch, replay: --output DIR, <output>-*.jsonl per output",
              "  stream:        --output-topic OUTPUT=TOPIC, keyed by the output's key"]
    for output, declared in pipeline.outputs.items():
        versions = schemas.versions(declared.subject)
        lines.append(f"  {output}: {declared.subject!r} (schema v{versions[-1]}), keyed by {declared.key}, topic "
                     f"{pipeline.default_output_topic(output)}")
        lines += _fields(schemas.latest(declared.subject))
    lines += [
        f"  and {writers.DEAD_LETTERS}-*.jsonl ({{\"record\", \"error\", \"origin\", \"stream\"}} per line; "
        f"topic {pipeline.default_dead_letter_topic()}), {writers.LATE}-*.jsonl (records too late for the "
        f"pipeline: {{\"stream\", \"record\", \"event_time\", \"watermark\", \"lateness_ms\"}}; topic "
        f"{pipeline.default_late_topic()}), {writers.SUMMARY}",
        f"windowing: {pipeline.describe_windowing()} (" + (
            "the windowing flags below change it; --mode batch gives one final pane per window)"
            if pipeline.spec is not None else "--allowed-lateness changes how long it waits for late records)"),
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
