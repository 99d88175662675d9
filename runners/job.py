"""One run of a registered pipeline: pick the source for the mode, apply the pipeline, write, summarise.

The pipeline transform is the same in every mode; only what feeds it and what runs it change:
- batch: the archive is read as a bounded source; the windowing keeps its windows and lateness but
  emits one final pane per window (see `WindowSpec.final_only`);
- replay: the archive is played as a stream (`kappa.io.replay`) with the windowing exactly as declared:
  on Flink as a TestStream; on the direct runner the windowed grouping is played in this process by
  Beam's trigger driver (`kappa.runners.replay_panes`), and its panes go through the rest of the
  pipeline in Beam;
- stream: orders are read from Kafka and results written to Kafka, with the windowing as declared,
  until the job is stopped.
"""
from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Dict, Iterable, Iterator, Optional, Tuple

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.utils.windowed_value import WindowedValue

from kappa.io import input_files, kafka, orders, readers, replay, splits, writers
from kappa.io.event_codec import Decoder, Encoder, ValueFormat
from kappa.pipelines.registry import PipelineDefinition
from kappa.runners import replay_panes, summary
from kappa.runners.interrupt import Interruptible
from kappa.runners.profiles import Mode, RunnerProfile
from kappa.transforms import metrics
from kappa.transforms.aggregation import FoldEvents, grouping_of
from kappa.transforms.windowing import WindowSpec


@dataclasses.dataclass(frozen=True)
class KafkaEndpoints:
    """Streaming mode's input and outputs."""

    source: kafka.KafkaSource
    output_topic: str
    dead_letter_topic: str
    value_format: ValueFormat = ValueFormat.AVRO


@dataclasses.dataclass(frozen=True)
class JobRequest:
    definition: PipelineDefinition
    spec: WindowSpec
    mode: Mode
    profile: RunnerProfile
    input_pattern: Optional[str] = None  # batch and replay: a file, a folder or a glob
    input_format: Optional[readers.RecordFormat] = None  # forced on every file; else each file's own
    inputs: Optional[input_files.InputSelection] = None  # input_pattern's files, chosen and checked before the job
    output_dir: Optional[str] = None
    kafka: Optional[KafkaEndpoints] = None  # stream
    max_out_of_orderness_ms: int = 5_000
    max_event_time_skew_ms: int = orders.DEFAULT_MAX_EVENT_TIME_SKEW_MS
    per_element: bool = False  # skip pre-aggregation: aggregate each event on its own
    max_dead_letter_ratio: Optional[float] = None  # None: fail only when every record is a dead letter

    def order_parser(self) -> orders.OrderParser:
        return orders.OrderParser(self.max_event_time_skew_ms)

    @property
    def effective_spec(self) -> WindowSpec:
        return self.spec.final_only() if self.mode is Mode.BATCH else self.spec

    @property
    def pre_aggregates(self) -> bool:
        """Batch folds each file split, stream each read of a partition, replay the records that arrive
        together, before the shuffle, where the windowing allows (see `kappa.transforms.aggregation`)."""
        return not self.per_element and self.definition.aggregation.can_pre_aggregate(self.effective_spec)


WORKER_BYTES = 4 << 20  # of archive per worker process, at least


@dataclasses.dataclass(frozen=True)
class InputPlan:
    """What a bounded run reads, planned once before the job is built: the stream a replay plays, or
    the byte ranges a backfill reads in either plan (which also decide how many workers it gets)."""

    replay: Optional[replay.ReplayPlan] = None
    panes: Optional[Tuple[WindowedValue, ...]] = None  # the replay's grouping, played in process
    splits: Tuple[splits.FileSplit, ...] = ()

    @property
    def workers(self) -> int:
        """One per WORKER_BYTES of input, at most one per split. A worker process takes about a second
        to start: make run's 2.1 MB archive took 5.4 s in this process and 6.6 s in two; the 10.7 MB
        bench archive 5.9 s in one and 5.2 s in two."""
        input_bytes = sum(split.end - split.start for split in self.splits)
        return max(1, min(len(self.splits), input_bytes // WORKER_BYTES))


def plan_inputs(request: JobRequest) -> InputPlan:
    if request.mode is Mode.REPLAY:
        plan = plan_replay(request)
        if not request.profile.replays_in_process:
            return InputPlan(replay=plan)
        grouped, combine_fn = grouping_of(request.definition.aggregation, request.pre_aggregates)
        player = replay_panes.PanePlayer(request.effective_spec, grouped, combine_fn)
        return InputPlan(replay=plan, panes=tuple(player.play(plan.steps)))
    if request.mode is Mode.BATCH:
        return InputPlan(splits=tuple(splits.plan_splits(request.inputs.files, splits.SPLIT_BYTES)))
    return InputPlan()


def plan_replay(request: JobRequest) -> replay.ReplayPlan:
    parse = readers.order_parser(request.input_format, request.max_event_time_skew_ms)
    parsed = readers.parse_records(_shown_as_progress(readers.iter_records(request.inputs.files)), parse)
    aggregation, spec = request.definition.aggregation, request.effective_spec
    fold = FoldEvents(aggregation, spec) if request.pre_aggregates else None
    return replay.plan_replay(parsed, aggregation, request.max_out_of_orderness_ms, spec, fold)


def _shown_as_progress(records: Iterable[Any]) -> Iterator[Any]:
    for record in records:
        metrics.records_read_outside_a_pipeline()
        yield record


def build(pipeline: beam.Pipeline, request: JobRequest, plan: InputPlan = InputPlan()) -> None:
    """The job graph; a bounded run takes the plan of what it reads."""
    definition, spec = request.definition, request.effective_spec
    parsed = _read(pipeline, request, plan)
    if plan.panes is not None:
        results = parsed.valid | definition.name >> definition.results(spec)
    else:
        plan_of = definition.pre_aggregated if request.pre_aggregates else definition.per_element
        results = parsed.valid | definition.name >> plan_of(spec)
    if request.mode is Mode.STREAM:
        _write_to_kafka(results, parsed.dead_letters, request)
    else:
        _write_to_files(results, parsed.dead_letters, request)


def _read(pipeline: beam.Pipeline, request: JobRequest, plan: InputPlan) -> readers.ParsedEvents:
    """Valid events, or their partial aggregates when the request pre-aggregates, or the panes of a replay
    played in process; and dead letters."""
    aggregation, spec = request.definition.aggregation, request.effective_spec
    if request.mode is Mode.STREAM:
        decode = Decoder(orders.SUBJECT, request.order_parser().from_mapping)
        fold = FoldEvents(aggregation, spec) if request.pre_aggregates else None
        decoded = pipeline | "ReadKafka" >> kafka.ReadFromKafka(
            request.kafka.source, decode, aggregation.event_time_ms, fold)
        return decoded | "SplitDeadLetters" >> readers.SplitDeadLetters(None if fold else orders.Order)
    if request.mode is Mode.REPLAY:
        if plan.panes is not None:
            valid = pipeline | "ReplayPanes" >> replay_panes.PlayedPanes(plan.panes)
        else:
            element_type = Any if request.pre_aggregates else request.definition.event_type
            valid = pipeline | "Replay" >> replay.ReplayStream(plan.replay.steps, element_type)
        return readers.ParsedEvents(
            valid=valid,
            dead_letters=pipeline | "ReplayDeadLetters" >> beam.Create(plan.replay.dead_letters).with_output_types(Any))
    if request.pre_aggregates:
        read = "PreAggregate" >> readers.PreAggregateSplits(request.order_parser(), aggregation, spec)
    else:
        read = "ReadOrders" >> readers.ReadSplits(request.order_parser())
    return pipeline | "PlanSplits" >> beam.Create(plan.splits) | "SpreadSplits" >> beam.Reshuffle() | read


def _write_to_files(results: beam.PCollection, dead_letters: beam.PCollection, request: JobRequest) -> None:
    encoded_results = results | "EncodeResults" >> beam.Map(lambda r: (writers.RESULTS, json.dumps(r)))
    encoded_dead_letters = dead_letters | "EncodeDeadLetters" >> beam.Map(
        lambda d: (writers.DEAD_LETTERS, d.to_json()))
    (encoded_results, encoded_dead_letters) | "Write" >> writers.WriteJsonLines(request.output_dir)


class _KeyedRecord:
    """A result -> (its window key, its value in the output format): the latest value per key is current."""

    def __init__(self, encode: Encoder):
        self._encode = encode

    def __call__(self, result: Dict[str, Any]) -> Tuple[bytes, bytes]:
        return result["key"].encode(), self._encode(result)


def _write_to_kafka(results: beam.PCollection, dead_letters: beam.PCollection, request: JobRequest) -> None:
    endpoints, bootstrap = request.kafka, request.kafka.source.bootstrap_servers
    (
        results
        | "EncodeResults" >> beam.Map(_KeyedRecord(Encoder(request.definition.name, endpoints.value_format)))
        | "WriteResults" >> kafka.WriteToKafka(bootstrap, endpoints.output_topic)
    )
    (
        dead_letters
        | "EncodeDeadLetters" >> beam.Map(lambda d: (d.origin and d.origin.encode(), d.to_json().encode()))
        | "WriteDeadLetters" >> kafka.WriteToKafka(bootstrap, endpoints.dead_letter_topic)
    )


def _counters(result) -> Dict[str, int]:
    query = result.metrics().query(MetricsFilter().with_namespace(metrics.NAMESPACE))
    totals: Dict[str, int] = {}
    for counter in query["counters"]:
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + counter.committed
    return totals


def run(request: JobRequest) -> Dict[str, Any]:
    """Runs the job and returns its summary: batch and replay to completion (also written to
    `<output>/summary.json`); stream until stopped, or until submitted when the runner detaches."""
    if request.mode is Mode.STREAM:
        return _run_stream(request)
    writers.clear_outputs(request.output_dir)
    started = time.monotonic()
    plan = plan_inputs(request)
    pipeline = request.profile.pipeline(request.mode, plan.workers)
    build(pipeline, request, plan)
    result = pipeline.run()
    result.wait_until_finish()
    elapsed = time.monotonic() - started
    writers.ensure_outputs(request.output_dir)
    if plan.replay is not None:
        tally = summary.replay_tally(plan.replay)
    else:
        tally = summary.batch_tally(_counters(result))
    report = summary.summarise(request, tally, elapsed)
    summary.write(report, request.output_dir)
    return report


def _run_stream(request: JobRequest) -> Dict[str, Any]:
    endpoints, bootstrap = request.kafka, request.kafka.source.bootstrap_servers
    partitions = len(kafka.partitions_of(bootstrap, endpoints.source.topic))
    for topic in (endpoints.output_topic, endpoints.dead_letter_topic):
        kafka.create_topic(bootstrap, topic, partitions)
    pipeline = request.profile.pipeline(request.mode)
    build(pipeline, request)
    result = pipeline.run()
    if request.profile.detaches:
        state = request.profile.await_running(result)
    else:
        # Beam's embedded job server, started by `run`, takes SIGINT with a handler that fails
        # (TypeError: StopOnExitJobServer.stop() takes 1 positional argument but 3 were given).
        with Interruptible():
            try:
                result.wait_until_finish()
            except KeyboardInterrupt:
                result.cancel()
                raise
        state = str(result.state)
    return summary.stream_summary(request, state)
