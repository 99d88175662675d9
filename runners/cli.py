"""The `kappa` command: the one entry point for running, generating and inspecting.

    kappa run NAME --input PATH --output DIR [--input-format jsonl|avro] [--runner direct|flink]
                   [--mode batch|replay] [windowing flags] [--max-out-of-orderness 5s] [Flink flags]
    kappa run NAME --mode stream --runner flink [--bootstrap-servers H:P] [--input-topic orders]
                   [--output-topic T] [--flink-master [local]|HOST:PORT] [--from-savepoint PATH] ...
    kappa stop JOB --savepoint DIR [--flink-master HOST:PORT]
    kappa produce orders --input PATH --topic orders [--rate N/s] [--value-format avro|json]
    kappa consume TOPIC [--limit N] [--idle 5s]
    kappa generate orders|fraud|viewers|surge --output DIR [--format avro|jsonl] [--events N] [--hours H]
                   [--seed S] [--duplicate-rate R] [--malformed N]
    kappa pipelines
    kappa schema check SUBJECT FILE [--compatibility MODE]
    kappa --version

Exit statuses: 0 success; 1 the pipeline failed while running; 2 a usage error (a bad flag or value,
a missing input, an output it cannot write, an unknown pipeline: one line on stderr), also `kappa`
with no command, after the usage; 3 the run finished but failed a check (the summary is printed and
written, then one line on stderr); 130 interrupted (Ctrl-C: one line on stderr).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import List, NoReturn, Optional

from kappa.runners.quiet import silence_google_client_warnings

silence_google_client_warnings()

from kappa.io import (contracts, generate, generate_fraud, generate_surge, generate_viewers,  # noqa: E402
                      input_files, kafka, readers, webhook, wire_format, writers)
from kappa.io.dead_letter import json_default
from kappa.io.event_codec import ArchiveToKafka, ValueFormat
from kappa.io.schema_registry import Compatibility, InvalidSchema, SchemaRegistry
from kappa.pipelines import registry
from kappa.pipelines.model import ALERTS, Pipeline
from kappa.runners import flags, interrupt, job, summary, usage, versions
from kappa.runners.flink import FlinkProfile
from kappa.runners.interrupt import Interruptible
from kappa.runners.profiles import DirectProfile, Mode, RunnerProfile
from kappa.runners.progress import Progress
from kappa.services import deps
from kappa.services.flink_cluster import FlinkRest, FlinkRestError
from kappa.transforms import windowing

RUNNERS = ("direct", "flink")

USAGE_ERROR = 2
CHECK_FAILED = 3

DEFAULT_MAX_OUT_OF_ORDERNESS = "5s"
MAX_GENERATED_HOURS = 366 * 24
# Flags whose effect is a stream's: a backfill's watermark passes no window before its input ends.
_BATCH_IGNORES = ("--allowed-lateness", "--early-firing", "--early-count", "--accumulation",
                  "--max-out-of-orderness")


class UsageError(Exception):
    """A mistake in how kappa was called; reported as one line, exit status 2."""


class CheckFailed(Exception):
    """The run finished, but its figures fail a check; reported as one line, exit status 3."""


class _Parser(argparse.ArgumentParser):
    # A value that starts with '-' and a digit is a value, so `--window -1s` reaches the check that
    # says why it is wrong; no kappa flag looks like a negative number.
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", usage.HelpFormatter)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\d")

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kappa", description="One set of Beam pipelines for streaming, replay and backfill.",
                     epilog="`kappa COMMAND --help` tells more; exit statuses: README.md, \"Exit statuses\".")
    parser.add_argument("--version", action="version", version=versions.describe(),
                        help="kappa's, Beam's, Flink's and Kafka's versions")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    run = commands.add_parser("run", help="run a pipeline over an archive, or over Kafka (--mode stream)",
                              add_help=False, epilog=usage.pipelines_list())
    run.add_argument("-h", "--help", action=usage.RunHelp,
                     help="these flags; after NAME, also that pipeline's inputs, outputs and windowing")
    run.add_argument("pipeline", metavar="NAME", help=f"the pipeline: {', '.join(registry.names())}")
    files = run.add_argument_group("input and output (batch and replay)")
    files.add_argument("--input", action="append", metavar="STREAM=PATH",
                       help="an input's archive: a file, a folder (its files) or a glob, once per input; a "
                            "pipeline of one input also takes PATH alone. A replay merges the inputs into one "
                            "stream: each keeps its order, and the next record is the one with the smallest "
                            "event time among the inputs' next records (ties: by input name) (default: none)")
    files.add_argument("--input-format", choices=[f.value for f in readers.RecordFormat],
                       help="read every file in this format (default: each file's own: Avro containers by their "
                            "first bytes, JSON Lines by name, .jsonl/.json/.ndjson, gzip decompressed; others skipped)")
    files.add_argument("--output", metavar="DIR",
                       help="the folder for results-*.jsonl, dead-letter-*.jsonl and summary.json, apart from "
                       "the input (default: none)")
    files.add_argument("--max-dead-letter-ratio", metavar="R",
                       help="fail the run (exit status 3) when more than R (0 to 1) of the records are dead "
                       "letters (default: fail only when every record is one)")
    files.add_argument("--max-event-time-skew", default="1h", metavar="DURATION",
                       help="an event time further ahead of the wall clock when read makes a dead letter")
    how = run.add_argument_group("how it runs")
    how.add_argument("--runner", choices=RUNNERS, default="direct", help="Beam's direct runners, or Flink")
    how.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.BATCH.value,
                     help="batch: the archive as a bounded input; replay: played as a stream; stream: Kafka")
    how.add_argument("--workers", type=int, metavar="N",
                     help="batch on --runner direct: at most N worker processes (default: one per core; one per "
                          "4 MiB of input at most, as each takes about a second to start)")
    how.add_argument("--alert-webhook", metavar="URL",
                     help="also POST each record of the pipeline's alerts output to URL as JSON, with an "
                          "Idempotency-Key header, at least once (default: none)")
    how.add_argument("--per-element", action="store_true",
                     help="aggregate each event on its own instead of folding each file split, Kafka read or "
                          "replayed arrival first (slower; the same final results, and in a stream one late "
                          "pane per late record)")
    event_time = windowing.add_window_flags(run)
    event_time.add_argument("--max-out-of-orderness", metavar="DURATION",
                            help="replay and stream: how far the watermark trails the highest event time seen, "
                            f"at most {windowing.format_duration_ms(windowing.MAX_LATENESS_MS)} "
                            f"(default: {DEFAULT_MAX_OUT_OF_ORDERNESS})")
    flags.add_flink_flags(run)
    flags.add_kafka_flags(run)

    stop = commands.add_parser("stop", help="stop a streaming job on a Flink cluster with a savepoint")
    stop.add_argument("job", metavar="JOB", help="the job's name (--job-name) or Flink job id")
    stop.add_argument("--savepoint", required=True, metavar="DIR", help="where Flink writes it (required)")
    stop.add_argument("--flink-master", default="localhost:8081", metavar="HOST:PORT", help="the cluster's REST address")

    produce = commands.add_parser("produce", help="replay an archive into a Kafka topic")
    produce.add_argument("kind", choices=sorted(registry.input_kinds()),
                         help="what the archive holds: an input of the pipelines")
    produce.add_argument("--input", required=True, metavar="PATH", help="a file, a folder or a glob (required)")
    produce.add_argument("--input-format", choices=[f.value for f in readers.RecordFormat],
                         help="default: avro when every file is named *.avro, else jsonl")
    produce.add_argument("--topic", help="where the records go (default: the kind's name)")
    produce.add_argument("--rate", metavar="N/s", help="at most N records a second (default: as fast as possible)")
    produce.add_argument("--value-format", choices=[f.value for f in ValueFormat], default=ValueFormat.AVRO.value,
                         help="avro: the Confluent wire format")
    produce.add_argument("--partitions", type=int, default=4, help="when the topic has to be created, at least 1")
    flags.add_bootstrap_flag(produce)

    consume = commands.add_parser("consume", help="print a topic's records, decoded, as JSON lines")
    consume.add_argument("topic", help="the topic to read from its beginning")
    consume.add_argument("--limit", type=int, help="stop after N records, at least 1 (default: no limit)")
    consume.add_argument("--idle", default="5s", metavar="DURATION",
                         help=f"stop after this long without records, at most {windowing.format_duration_ms(windowing.DAY_MS)}")
    flags.add_bootstrap_flag(consume)

    gen = commands.add_parser("generate", help="write a seeded archive of events")
    gen.add_argument("kind", choices=["orders", "fraud", "viewers", "surge"],
                     help="orders: the orders input (orders-per-minute, live-sales); fraud: the payments and "
                          "devices inputs of fraud-scoring, in DIR/payments and DIR/devices; viewers: the "
                          "heartbeats input of concurrent-viewers; surge: the requests and drivers inputs of "
                          "surge-pricing, in DIR/requests and DIR/drivers")
    gen.add_argument("--output", required=True, metavar="DIR", help="the folder for the archive's files (required)")
    gen.add_argument("--format", choices=[f.value for f in readers.RecordFormat], default="avro",
                     help="the files' format")
    defaults = generate.GeneratorConfig()
    gen.add_argument("--events", type=int, default=defaults.events,
                     help="distinct orders; for fraud, distinct payments; for viewers, distinct heartbeats; "
                          "for surge, distinct requests and driver locations together; at least 1")
    gen.add_argument("--hours", type=int, default=defaults.hours,
                     help=f"of event time, one file per hour of arrival; 1 to {MAX_GENERATED_HOURS}")
    gen.add_argument("--seed", type=int, default=defaults.seed, help="the same seed gives the same archive")
    gen.add_argument("--duplicate-rate", type=float, default=defaults.duplicate_rate,
                     help="the share of events redelivered, from 0 up to 1")
    gen.add_argument("--malformed", type=int, default=defaults.malformed,
                     help="how many records of each input are broken, from 0 to --events")

    commands.add_parser("pipelines", help="list the pipelines kappa can run")

    schema = commands.add_parser("schema", help="check a schema against the registry")
    schema.add_argument("action", choices=["check"], help="check: would FILE be accepted as SUBJECT's next version")
    schema.add_argument("subject", metavar="SUBJECT", help="a subject of the registry, e.g. order")
    schema.add_argument("file", metavar="FILE", help="an Avro schema (.avsc)")
    schema.add_argument("--compatibility", type=str.upper, choices=[c.value for c in Compatibility],
                        default=Compatibility.BACKWARD.value, help="the rule it must pass, in any case")
    return parser


def _input_format(args: argparse.Namespace) -> Optional[readers.RecordFormat]:
    return readers.RecordFormat(args.input_format) if args.input_format else None


_WINDOW_FLAGS = ("window_kind", "window", "period", "gap", "early_firing", "early_count", "accumulation")


def _configured(pipeline: Pipeline, args: argparse.Namespace) -> Pipeline:
    """The pipeline with the windowing flags applied: to its WindowSpec, or, for a pipeline without one,
    only --allowed-lateness."""
    if pipeline.spec is not None:
        return pipeline.configured(spec=windowing.spec_from_args(args, pipeline.spec))
    given = [f"--{flag.replace('_', '-')}" for flag in _WINDOW_FLAGS if getattr(args, flag) is not None]
    if given:
        raise ValueError(f"{pipeline.name} has no window that {given[0]} could change (its windowing: "
                         f"{pipeline.describe_windowing()}); --allowed-lateness sets how long it waits")
    if args.allowed_lateness is None:
        return pipeline
    return pipeline.configured(allowed_lateness_ms=windowing.duration_flag_ms(
        "--allowed-lateness", args.allowed_lateness, windowing.MAX_LATENESS_MS, positive=False))


def _file_binding(args: argparse.Namespace, pipeline: Pipeline, mode: Mode,
                  max_dead_letter_ratio: Optional[float]) -> job.FileBinding:
    streams = list(pipeline.inputs)
    if not args.input or not args.output:
        raise ValueError(f"--mode {mode.value} needs --input and --output")
    patterns = flags.named_values("--input", args.input, streams, "stream")
    missing = [stream for stream in streams if stream not in patterns]
    if missing:
        raise ValueError(f"{pipeline.name} reads {len(streams)} inputs; missing: "
                         + ", ".join(f"--input {stream}=PATH" for stream in missing))
    fmt = _input_format(args)
    for pattern in patterns.values():
        writers.check_output_dir(args.output, pattern)
    inputs = {stream: input_files.select_inputs(patterns[stream], fmt) for stream in streams}
    for stream, selection in inputs.items():
        readers.check_contract(stream, contracts.contract(pipeline.inputs[stream].subject).schema, selection.files)
    return job.FileBinding(inputs=inputs, patterns={stream: patterns[stream] for stream in streams},
                           output_dir=args.output, input_format=fmt, max_dead_letter_ratio=max_dead_letter_ratio)


def _kafka_binding(args: argparse.Namespace, pipeline: Pipeline, max_out_of_orderness_ms: int) -> job.KafkaBinding:
    topics = flags.named_values("--input-topic", args.input_topic, list(pipeline.inputs), "stream")
    output_topics = flags.named_values("--output-topic", args.output_topic, list(pipeline.outputs), "output")
    group_id = args.group_id or f"kappa-{pipeline.name}"
    return job.KafkaBinding(
        bootstrap_servers=args.bootstrap_servers,
        sources={stream: flags.kafka_source_from_args(args, max_out_of_orderness_ms, topics.get(stream, stream),
                                                      group_id)
                 for stream in pipeline.inputs},
        output_topics={output: output_topics.get(output, pipeline.default_output_topic(output))
                       for output in pipeline.outputs},
        dead_letter_topic=args.dead_letter_topic or pipeline.default_dead_letter_topic(),
        late_topic=args.late_topic or pipeline.default_late_topic(),
        value_format=ValueFormat(args.output_format))


def _run(args: argparse.Namespace) -> int:
    try:
        pipeline = registry.get(args.pipeline)
    except KeyError as err:
        raise UsageError(err.args[0]) from None
    mode = Mode(args.mode)
    try:
        pipeline = _configured(pipeline, args)
        alert_webhook = _alert_webhook(args, pipeline)
        max_ooo = windowing.duration_flag_ms(
            "--max-out-of-orderness", args.max_out_of_orderness or DEFAULT_MAX_OUT_OF_ORDERNESS,
            windowing.MAX_LATENESS_MS, positive=False)
        skew = windowing.duration_flag_ms("--max-event-time-skew", args.max_event_time_skew, windowing.MAX_LATENESS_MS)
        max_dead_letter_ratio = _ratio("--max-dead-letter-ratio", args.max_dead_letter_ratio)
        profile = _profile(args, mode, pipeline.name)
        if (mode is Mode.REPLAY and args.runner == "flink" and pipeline.spec is not None
                and pipeline.spec.early_firing_delay_ms is not None):
            raise ValueError("--early-firing cannot be replayed on --runner flink: Flink's TestStream cannot "
                             "advance processing time; replay it on --runner direct")
        if mode is Mode.STREAM:
            binding = _kafka_binding(args, pipeline, max_ooo)
        else:
            binding = _file_binding(args, pipeline, mode, max_dead_letter_ratio)
        request = job.JobRequest(pipeline=pipeline, mode=mode, profile=profile, binding=binding,
                                 max_out_of_orderness_ms=max_ooo, max_event_time_skew_ms=skew,
                                 per_element=args.per_element, alert_webhook=alert_webhook)
    except (ValueError, FileNotFoundError, deps.MissingDependency) as err:
        raise UsageError(str(err)) from None
    if mode is Mode.BATCH:
        _say_what_batch_ignores(args)
    if mode is Mode.REPLAY and args.workers is not None:
        print("kappa: warning: --mode replay ignores --workers: a replay plays its stream in this process, "
              "in order", file=sys.stderr)
    if mode is Mode.STREAM:
        print(summary.render(job.run(request)))
        return 0
    with Interruptible(), Progress():
        report = job.run(request)
    print(summary.render(report))
    if report["failed_check"]:
        raise CheckFailed(report["failed_check"])
    return 0


def _alert_webhook(args: argparse.Namespace, pipeline: Pipeline) -> Optional[str]:
    if args.alert_webhook is None:
        return None
    if ALERTS not in pipeline.outputs:
        raise ValueError(f"--alert-webhook posts a pipeline's alerts output, and {pipeline.name} has none "
                         f"(its outputs: {', '.join(pipeline.outputs)})")
    return webhook.check_url(args.alert_webhook)


def _ratio(flag: str, text: Optional[str]) -> Optional[float]:
    if text is None:
        return None
    try:
        ratio = float(text)
    except ValueError:
        ratio = float("nan")
    if not 0 <= ratio <= 1:
        raise ValueError(f"{flag} must be a number from 0 to 1, got {text}")
    return ratio


def _say_what_batch_ignores(args: argparse.Namespace) -> None:
    given = [flag for flag in _BATCH_IGNORES if getattr(args, flag[2:].replace("-", "_")) is not None]
    if given:
        listed = ", ".join(given[:-1]) + " and " + given[-1] if len(given) > 1 else given[0]
        print(f"kappa: warning: --mode batch ignores {listed}: a backfill has no late records and gives each "
              "window one final pane (--mode replay plays the input as a stream)", file=sys.stderr)


def _profile(args: argparse.Namespace, mode: Mode, job_name: str) -> RunnerProfile:
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
    args.topic = args.topic or args.kind
    try:
        if args.partitions < 1:
            raise ValueError(f"--partitions must be at least 1, got {args.partitions}")
        rate = flags.parse_rate(args.rate)
        selection = input_files.select_inputs(args.input, _input_format(args))
        kafka.create_topic(args.bootstrap_servers, args.topic, args.partitions)
    except (ValueError, FileNotFoundError, kafka.KafkaException) as err:
        raise UsageError(str(err)) from None
    kind = registry.input_kinds()[args.kind]
    contract = contracts.contract(kind.subject)
    to_kafka = ArchiveToKafka(kind.subject, contract.parser().parse, kind.key, ValueFormat(args.value_format),
                              contract.event_time_field)
    records = (to_kafka(raw) for raw, _ in readers.iter_records(selection.files, contract.schema))
    started = time.monotonic()
    written = kafka.produce(args.bootstrap_servers, args.topic, records, rate)
    elapsed = time.monotonic() - started
    print(f"produced {written:,} records to {args.topic} in {elapsed:.1f}s ({written / max(elapsed, 1e-9):,.0f}/s)")
    return 0


def _consume(args: argparse.Namespace) -> int:
    registry_ = SchemaRegistry()
    try:
        if args.limit is not None and args.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {args.limit}")
        idle_s = windowing.duration_flag_ms("--idle", args.idle, windowing.DAY_MS) / 1000
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
    if args.hours > MAX_GENERATED_HOURS:
        raise UsageError(f"--hours must be at most {MAX_GENERATED_HOURS} (366 days), got {args.hours}")
    if not 0 <= args.duplicate_rate < 1:
        raise UsageError("--duplicate-rate must be in [0, 1)")
    if not 0 <= args.malformed <= args.events:
        raise UsageError(f"--malformed must be from 0 to --events ({args.events:,}), got {args.malformed}")
    try:
        writers.check_output_dir(args.output)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.kind == "fraud":
        fraud = generate_fraud.FraudConfig(payments=args.events, hours=args.hours, seed=args.seed,
                                           duplicate_rate=args.duplicate_rate, malformed=args.malformed)
        written = generate_fraud.write_fraud_archive(fraud, args.output, args.format)
        archives = {"payment": written.payments, "device": written.devices}
    elif args.kind == "viewers":
        viewers = generate_viewers.ViewersConfig(heartbeats=args.events, hours=args.hours, seed=args.seed,
                                                 duplicate_rate=args.duplicate_rate, malformed=args.malformed)
        archives = {"heartbeat": generate_viewers.write_viewers_archive(viewers, args.output, args.format)}
    elif args.kind == "surge":
        surge = generate_surge.SurgeConfig(events=args.events, hours=args.hours, seed=args.seed,
                                           duplicate_rate=args.duplicate_rate, malformed=args.malformed)
        surge_archive = generate_surge.write_surge_archive(surge, args.output, args.format)
        archives = {"ride-request": surge_archive.requests, "driver-location": surge_archive.drivers}
    else:
        config = generate.GeneratorConfig(events=args.events, hours=args.hours, seed=args.seed,
                                          duplicate_rate=args.duplicate_rate, malformed=args.malformed)
        archives = {"order": generate.write_archive(config, args.output, args.format)}
    for what, archive in archives.items():
        print(f"generated {archive.records:,} {what} records ({archive.records - archive.duplicates:,} distinct, "
              f"{archive.duplicates:,} redelivered, {archive.malformed} malformed) in {len(archive.files)} "
              f"{args.format} files under {os.path.dirname(archive.files[0]) if archive.files else args.output}")
    return 0


def _pipelines(_: argparse.Namespace) -> int:
    print(usage.pipelines_overview())
    return 0


def _schema(args: argparse.Namespace) -> int:
    schemas = SchemaRegistry(compatibility=Compatibility(args.compatibility))
    if args.subject not in schemas.subjects():
        raise UsageError(f"unknown schema subject {args.subject!r} (known: {', '.join(schemas.subjects())})")
    try:
        with open(args.file, encoding="utf-8") as f:
            candidate = json.load(f)
    except OSError as err:
        raise UsageError(f"cannot read {args.file}: {err.strerror}") from None
    except ValueError as err:
        raise UsageError(f"{args.file} is not JSON: {err}") from None
    try:
        problems = schemas.check(args.subject, candidate)
    except InvalidSchema as err:
        raise UsageError(f"{args.file} is not a valid Avro schema: {err}") from None
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
    parser = _parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as done:  # --help, --version
            return done.code or 0
        if args.command is None:
            parser.print_help()
            return USAGE_ERROR
        return _COMMANDS[args.command](args)
    except UsageError as err:
        print(f"kappa: error: {err}", file=sys.stderr)
        return USAGE_ERROR
    except CheckFailed as err:
        print(f"kappa: error: {err}", file=sys.stderr)
        return CHECK_FAILED
    except KeyboardInterrupt:
        return interrupt.report()


if __name__ == "__main__":
    sys.exit(main())
