"""The `kappa` command: the one entry point for running, generating and inspecting.

    kappa run NAME --input PATH --output DIR [--input-format jsonl|avro] [--runner direct]
                   [--mode batch|replay] [windowing flags] [--max-out-of-orderness 5s]
    kappa generate orders --output DIR [--format avro|jsonl] [--events N] [--hours H] [--seed S]
    kappa pipelines
    kappa schema check SUBJECT FILE [--compatibility MODE]

A usage error (bad flag or value, missing input, unknown pipeline) prints one line on stderr and exits
with status 2; a pipeline that fails while running exits with 1.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from typing import List, NoReturn, Optional

# Google client libraries warn about future Python and grpcio support on import; not actionable for a user.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")

from kappa.io import generate, readers  # noqa: E402 (after the warnings filter)
from kappa.io.schema_registry import Compatibility, SchemaRegistry
from kappa.pipelines import registry
from kappa.runners import job, summary
from kappa.runners.profiles import PROFILES, Mode
from kappa.transforms import windowing

USAGE_ERROR = 2


class UsageError(Exception):
    """A mistake in how kappa was called; reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kappa", description="One set of Beam pipelines for streaming, replay and backfill.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run a pipeline over an archive")
    run.add_argument("pipeline", metavar="NAME")
    run.add_argument("--input", required=True, metavar="PATH", help="a file, a folder or a glob")
    run.add_argument("--input-format", choices=[f.value for f in readers.RecordFormat],
                     help="default: avro for *.avro files, else jsonl")
    run.add_argument("--output", required=True, metavar="DIR")
    run.add_argument("--runner", choices=sorted(PROFILES), default="direct")
    run.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.BATCH.value)
    run.add_argument("--max-out-of-orderness", default="5s", metavar="DURATION",
                     help="replay: how far the watermark trails the highest event time seen")
    windowing.add_window_flags(run)

    gen = commands.add_parser("generate", help="write a seeded archive of events")
    gen.add_argument("kind", choices=["orders"])
    gen.add_argument("--output", required=True, metavar="DIR")
    gen.add_argument("--format", choices=[f.value for f in readers.RecordFormat], default="avro")
    defaults = generate.GeneratorConfig()
    gen.add_argument("--events", type=int, default=defaults.events)
    gen.add_argument("--hours", type=int, default=defaults.hours)
    gen.add_argument("--seed", type=int, default=defaults.seed)
    gen.add_argument("--duplicate-rate", type=float, default=defaults.duplicate_rate)
    gen.add_argument("--malformed", type=int, default=defaults.malformed)

    commands.add_parser("pipelines", help="list the pipelines kappa can run")

    schema = commands.add_parser("schema", help="check a schema against the registry")
    schema.add_argument("action", choices=["check"])
    schema.add_argument("subject")
    schema.add_argument("file")
    schema.add_argument("--compatibility", choices=[c.value for c in Compatibility],
                        default=Compatibility.BACKWARD.value)
    return parser


def _input_format(args: argparse.Namespace, pattern: str) -> readers.RecordFormat:
    if args.input_format:
        return readers.RecordFormat(args.input_format)
    files = readers.matching_files(pattern)
    if all(f.endswith(".avro") for f in files):
        return readers.RecordFormat.AVRO
    return readers.RecordFormat.JSONL


def _run(args: argparse.Namespace) -> int:
    try:
        definition = registry.get(args.pipeline)
    except KeyError as err:
        raise UsageError(err.args[0]) from None
    try:
        spec = windowing.spec_from_args(args, definition.default_spec)
        max_ooo = windowing.parse_duration_ms(args.max_out_of_orderness)
        pattern = readers.resolve_input(args.input)
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None
    request = job.JobRequest(
        definition=definition,
        spec=spec,
        input_pattern=pattern,
        input_format=_input_format(args, pattern),
        output_dir=args.output,
        mode=Mode(args.mode),
        profile=PROFILES[args.runner],
        max_out_of_orderness_ms=max_ooo,
    )
    print(summary.render(job.run(request)))
    return 0


def _generate(args: argparse.Namespace) -> int:
    if args.events <= 0 or args.hours <= 0:
        raise UsageError("--events and --hours must be positive")
    if not 0 <= args.duplicate_rate < 1:
        raise UsageError("--duplicate-rate must be in [0, 1)")
    config = generate.GeneratorConfig(
        events=args.events, hours=args.hours, seed=args.seed,
        duplicate_rate=args.duplicate_rate, malformed=args.malformed,
    )
    archive = generate.write_archive(config, args.output, args.format)
    print(f"generated {archive.records:,} order records ({config.events:,} orders, {archive.duplicates:,} "
          f"redelivered, {archive.malformed} malformed) in {len(archive.files)} {args.format} files "
          f"under {args.output}")
    return 0


def _pipelines(_: argparse.Namespace) -> int:
    for name in registry.names():
        definition = registry.get(name)
        print(f"{name:<24} {definition.description} [{definition.default_spec.describe()}]")
    return 0


def _schema(args: argparse.Namespace) -> int:
    try:
        with open(args.file, encoding="utf-8") as f:
            candidate = json.load(f)
        problems = SchemaRegistry(compatibility=Compatibility(args.compatibility)).check(args.subject, candidate)
    except (OSError, ValueError, KeyError) as err:
        raise UsageError(f"cannot check {args.file}: {err}") from None
    if problems:
        print(f"{args.file}: INCOMPATIBLE with {args.subject} ({args.compatibility})")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print(f"{args.file}: compatible with {args.subject} ({args.compatibility})")
    return 0


_COMMANDS = {"run": _run, "generate": _generate, "pipelines": _pipelines, "schema": _schema}


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args = _parser().parse_args(argv)
        return _COMMANDS[args.command](args)
    except UsageError as err:
        print(f"kappa: error: {err}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
