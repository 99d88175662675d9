"""The `kappa` command: the one entry point for running, generating and inspecting.

    kappa run NAME --input PATH --output DIR [--input-format jsonl|avro] [--runner direct|flink]
                   [--mode batch|replay] [windowing flags] [--max-out-of-orderness 5s] [Flink flags]
    kappa run NAME --mode stream --runner flink [--bootstrap-servers H:P] [--input-topic orders]
                   [--output-topic T] [--flink-master [local]|HOST:PORT] [--from-savepoint PATH] ...
    kappa stop JOB --savepoint DIR [--flink-master HOST:PORT]
    kappa produce orders --input PATH --topic orders [--rate N/s] [--value-format avro|json]
    kappa consume TOPIC [--limit N] [--idle 5s]
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
import time
import warnings
from pathlib import Path
from typing import List, NoReturn, Optional

# Google client libraries warn about future Python and grpcio support on import; not actionable for a user.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")

from kappa.io import generate, kafka, readers, wire_format  # noqa: E402 (after the warnings filter)
from kappa.io.dead_letter import json_default
from kappa.io.event_codec import ArchiveToKafka, ValueFormat
from kappa.io.schema_registry import Compatibility, SchemaRegistry
from kappa.pipelines import registry
from kappa.runners import flags, job, summary
from kappa.runners.flink import FlinkProfile
from kappa.runners.profiles import DirectProfile, Mode, RunnerProfile
from kappa.services import deps
from kappa.services.flink_cluster import FlinkRest, FlinkRestError
from kappa.transforms import windowing

RUNNERS = ("direct", "flink")

USAGE_ERROR = 2


class UsageError(Exception):
    """A mistake in how kappa was called; reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kappa", description="One set of Beam pipelines for streaming, replay and backfill.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run a pipeline over an archive, or over Kafka (--mode stream)")
    run.add_argument("pipeline", metavar="NAME")
    run.add_argument("--input", metavar="PATH", help="batch and replay: a file, a folder or a glob")
    run.add_argument("--input-format", choices=[f.value for f in readers.RecordFormat],
                     help="default: avro for *.avro files, else jsonl")
    run.add_argument("--output", metavar="DIR", help="batch and replay: where results go")
    run.add_argument("--runner", choices=RUNNERS, default="direct")
    run.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.BATCH.value)
    run.add_argument("--max-out-of-orderness", default="5s", metavar="DURATION",
                     help="replay and stream: how far the watermark trails the highest event time seen")
    run.add_argument("--workers", type=int, metavar="N",
                     help="batch on --runner direct: at most N worker processes (default: one per core; one per "
                          "4 MiB of input at most, as each takes about a second to start)")
    run.add_argument("--per-element", action="store_true",
                     help="batch and stream: aggregate each event on its own instead of folding each file "
                          "split or Kafka read first (slower; the same final results, and in a stream one late "
                          "pane per late record)")
    windowing.add_window_flags(run)
    flags.add_flink_flags(run)
    flags.add_kafka_flags(run)

    stop = commands.add_parser("stop", help="stop a streaming job on a Flink cluster with a savepoint")
    stop.add_argument("job", metavar="JOB", help="the job's name (--job-name) or Flink job id")
    stop.add_argument("--savepoint", required=True, metavar="DIR")
    stop.add_argument("--flink-master", default="localhost:8081", metavar="HOST:PORT")

    produce = commands.add_parser("produce", help="replay an archive into a Kafka topic")
    produce.add_argument("kind", choices=["orders"])
    produce.add_argument("--input", required=True, metavar="PATH")
    produce.add_argument("--input-format", choices=[f.value for f in readers.RecordFormat])
    produce.add_argument("--topic", default="orders")
    produce.add_argument("--rate", metavar="N/s", help="at most N records a second (default: as fast as possible)")
    produce.add_argument("--value-format", choices=[f.value for f in ValueFormat], default=ValueFormat.AVRO.value)
    produce.add_argument("--partitions", type=int, default=4, help="when the topic has to be created")
    flags.add_bootstrap_flag(produce)

    consume = commands.add_parser("consume", help="print a topic's records, decoded, as JSON lines")
    consume.add_argument("topic")
    consume.add_argument("--limit", type=int, help="stop after N records")
    consume.add_argument("--idle", default="5s", metavar="DURATION", help="stop after this long without records")
    flags.add_bootstrap_flag(consume)

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
    return readers.RecordFormat(args.input_format) if args.input_format else readers.format_of(pattern)


def _run(args: argparse.Namespace) -> int:
    try:
        definition = registry.get(args.pipeline)
    except KeyError as err:
        raise UsageError(err.args[0]) from None
    mode = Mode(args.mode)
    try:
        spec = windowing.spec_from_args(args, definition.default_spec)
        max_ooo = windowing.parse_duration_ms(args.max_out_of_orderness)
        profile = _profile(args, mode, definition.name)
        if mode is Mode.STREAM:
            endpoints = job.KafkaEndpoints(
                source=flags.kafka_source_from_args(args, max_ooo), output_topic=args.output_topic,
                dead_letter_topic=args.dead_letter_topic, value_format=ValueFormat(args.output_format))
            request = job.JobRequest(definition=definition, spec=spec, mode=mode, profile=profile, kafka=endpoints,
                                     max_out_of_orderness_ms=max_ooo, per_element=args.per_element)
        else:
            if not args.input or not args.output:
                raise ValueError(f"--mode {mode.value} needs --input and --output")
            pattern = readers.resolve_input(args.input)
            request = job.JobRequest(definition=definition, spec=spec, mode=mode, profile=profile,
                                     input_pattern=pattern, input_format=_input_format(args, pattern),
                                     output_dir=args.output, max_out_of_orderness_ms=max_ooo,
                                     per_element=args.per_element)
    except (ValueError, FileNotFoundError, deps.MissingDependency) as err:
        raise UsageError(str(err)) from None
    print(summary.render(job.run(request)))
    return 0


def _profile(args: argparse.Namespace, mode: Mode, job_name: str) -> RunnerProfile:
    if args.per_element and mode is Mode.REPLAY:
        raise ValueError("--per-element applies to --mode batch and stream (replay always aggregates per element)")
    if args.runner == "direct":
        if mode is Mode.STREAM:
            raise ValueError("--mode stream runs on --runner flink")
        return DirectProfile(args.workers)
    if args.workers is not None:
        raise ValueError("--workers applies to --runner direct; Flink takes --parallelism")
    profile = FlinkProfile(flags.flink_settings_from_args(args, mode is Mode.STREAM, job_name))
    profile.options(mode)  # fails early, with a usage error, when `make deps` has not run
    return profile


def _stop(args: argparse.Namespace) -> int:
    """Returns once Flink lists the job FINISHED, so a restart from the savepoint finds its slots free."""
    rest = FlinkRest(args.flink_master)
    try:
        found = rest.running_job(args.job)
    except FlinkRestError as err:
        raise UsageError(str(err)) from None
    try:
        location = rest.stop_with_savepoint(found["jid"], str(Path(args.savepoint).resolve()))
    except FlinkRestError as err:
        print(f"kappa: error: {err}", file=sys.stderr)
        return 1
    print(f"stopped {found['name']} ({found['jid']}); savepoint: {location}")
    print(f"restart it with: kappa run ... --flink-master {args.flink_master} --from-savepoint {location}")
    return 0


def _produce(args: argparse.Namespace) -> int:
    try:
        rate = flags.parse_rate(args.rate)
        pattern = readers.resolve_input(args.input)
        fmt = _input_format(args, pattern)
        kafka.create_topic(args.bootstrap_servers, args.topic, args.partitions)
    except (ValueError, FileNotFoundError, kafka.KafkaException) as err:
        raise UsageError(str(err)) from None
    to_kafka = ArchiveToKafka(readers.order_parser(fmt), ValueFormat(args.value_format))
    records = (to_kafka(raw) for raw in readers.iter_raw_records(pattern, fmt))
    started = time.monotonic()
    written = kafka.produce(args.bootstrap_servers, args.topic, records, rate)
    elapsed = time.monotonic() - started
    print(f"produced {written:,} records to {args.topic} in {elapsed:.1f}s ({written / max(elapsed, 1e-9):,.0f}/s)")
    return 0


def _consume(args: argparse.Namespace) -> int:
    registry_ = SchemaRegistry()
    try:
        idle_s = windowing.parse_duration_ms(args.idle) / 1000
        records = kafka.consume(args.bootstrap_servers, args.topic, idle_s=idle_s)
        for count, record in enumerate(records, start=1):
            line = {"partition": record.partition, "offset": record.offset, "key": record.key,
                    "value": wire_format.read_any(record.value, registry_)}
            print(json.dumps(line, default=json_default), flush=True)
            if args.limit and count >= args.limit:
                break
    except ValueError as err:
        raise UsageError(str(err)) from None
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


_COMMANDS = {"run": _run, "stop": _stop, "produce": _produce, "consume": _consume, "generate": _generate,
             "pipelines": _pipelines, "schema": _schema}


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
