"""One run of a pipeline: a source bound to every input and a sink to every output for the mode, the
pipeline's transform between them, and a summary. Nothing here knows any one pipeline.

The pipeline transform is the same in every mode; only what feeds it and what runs it change:
- batch: each input's archive is read as a bounded source; the windowing keeps its windows and
  lateness but emits one final pane per window (see `WindowSpec.final_only`);
- replay: the archives of all inputs are merged into one recorded stream and played with the
  windowing exactly as declared (`kappa.io.replay`): on Flink as a TestStream; on the direct runner
  a pipeline of one aggregated input has its windowed grouping played in this process by Beam's
  trigger driver (`kappa.runners.replay_panes`), and its panes go through the rest of the pipeline in
  Beam; any other as a TestStream;
- stream: each input is read from its Kafka topic and each output written to its topic, with the
  windowing as declared, until the job is stopped.
In every mode, `--alert-webhook` also posts the records of a pipeline's `alerts` output to a webhook,
at least once (`kappa.io.webhook`).
Where the source owns the watermark (replay, Kafka), it takes out too-late records before the
pipeline (`kappa.transforms.lateness`); they go to the `late` output, as dead letters go to theirs.
"""
from __future__ import annotations

import dataclasses
import json
import operator
import os
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

from kappa.io import contracts, input_files, kafka, readers, replay, splits, webhook, writers
from kappa.io.event_codec import Decoder, Encoder, ValueFormat
from kappa.io.contracts import DEFAULT_MAX_EVENT_TIME_SKEW_MS
from kappa.pipelines.model import ALERTS, MAIN_OUTPUT, TALLY, Pipeline
from kappa.runners import replay_panes, summary
from kappa.runners.interrupt import Interruptible
from kappa.runners.profiles import Mode, RunnerProfile
from kappa.transforms import metrics
from kappa.transforms.aggregation import Arrives, Fold, grouping_of
from kappa.transforms.bundle_combine import CombineInBundles
from kappa.transforms.lateness import LateRecord
from kappa.transforms.tally import Tally


@dataclasses.dataclass(frozen=True)
class FileBinding:
    """Batch and replay: each input's archive (its files, chosen and checked before the job), and the
    folder every output goes to."""

    inputs: Mapping[str, input_files.InputSelection]
    patterns: Mapping[str, str]  # each input's --input, as given
    output_dir: str
    input_format: Optional[readers.RecordFormat] = None  # forced on every file; else each file's own
    max_dead_letter_ratio: Optional[float] = None  # None: fail only when every record is a dead letter


@dataclasses.dataclass(frozen=True)
class KafkaBinding:
    """Stream: each input's topic, each output's, and where dead letters and too-late records go."""

    bootstrap_servers: str
    sources: Mapping[str, kafka.KafkaSource]  # per input
    output_topics: Mapping[str, str]  # per output
    dead_letter_topic: str
    late_topic: str
    value_format: ValueFormat = ValueFormat.AVRO


@dataclasses.dataclass(frozen=True)
class JobRequest:
    pipeline: Pipeline  # configured by the flags
    mode: Mode
    profile: RunnerProfile
    binding: Union[FileBinding, KafkaBinding]
    max_out_of_orderness_ms: int = 5_000  # replay; a stream's is its sources'
    max_event_time_skew_ms: int = DEFAULT_MAX_EVENT_TIME_SKEW_MS
    per_element: bool = False  # skip pre-aggregation: aggregate each event on its own
    alert_webhook: Optional[str] = None  # also POST every record of the pipeline's `alerts` output here

    def __post_init__(self) -> None:
        wanted = KafkaBinding if self.mode is Mode.STREAM else FileBinding
        if not isinstance(self.binding, wanted):
            raise ValueError(f"--mode {self.mode.value} binds {wanted.__name__}, not {type(self.binding).__name__}")

    @property
    def effective(self) -> Pipeline:
        """The pipeline as this mode runs it: a backfill is bounded and gives each window one final pane."""
        return self.pipeline.for_backfill() if self.mode is Mode.BATCH else self.pipeline

    def pre_aggregates(self, stream: str) -> bool:
        """Batch folds each file split, stream each read of a partition, replay the records that arrive
        together, before the shuffle, where the pipeline can (`Pipeline.fold`)."""
        return self.fold(stream) is not None

    def fold(self, stream: str) -> Optional[Fold]:
        return None if self.per_element else self.effective.fold(stream)

    def contract(self, stream: str) -> contracts.Contract:
        return contracts.contract(self.pipeline.inputs[stream].subject)

    def parser(self, stream: str) -> Any:
        return self.contract(stream).parser(self.max_event_time_skew_ms)

    @property
    def plays_panes(self) -> bool:
        """Whether a replay plays the grouping in this process: one input, aggregated, on a runner that can."""
        pipeline = self.pipeline
        return (self.mode is Mode.REPLAY and self.profile.replays_in_process
                and list(pipeline.inputs) == [pipeline.aggregated_input])


WORKER_BYTES = 2 << 20  # of archive per worker process, at least: 2 MiB of Avro heartbeats is ~300,000 records


@dataclasses.dataclass(frozen=True)
class InputPlan:
    """What a bounded run reads, planned once before the job is built: the stream a replay plays, or
    the byte ranges a backfill reads of each input (which also decide how many workers it gets)."""

    replay: Optional[replay.ReplayPlan] = None
    panes: Optional[Tuple[WindowedValue, ...]] = None  # the replay's grouping, played in process
    splits: Mapping[str, Tuple[splits.FileSplit, ...]] = dataclasses.field(default_factory=dict)

    @property
    def workers(self) -> int:
        """One per WORKER_BYTES of input, at most one per split (a worker process takes about a second
        to start; docs/benchmarks.md has the measurements)."""
        every_split = [split for stream_splits in self.splits.values() for split in stream_splits]
        input_bytes = sum(split.end - split.start for split in every_split)
        return max(1, min(len(every_split), input_bytes // WORKER_BYTES))


def plan_inputs(request: JobRequest) -> InputPlan:
    if request.mode is Mode.REPLAY:
        plan = plan_replay(request)
        if not request.plays_panes:
            return InputPlan(replay=plan)
        stream = request.pipeline.aggregated_input
        grouped, combine_fn = grouping_of(request.pipeline.aggregation, request.pre_aggregates(stream))
        player = replay_panes.PanePlayer(request.effective.spec, grouped, combine_fn)
        return InputPlan(replay=plan, panes=tuple(player.play(plan.steps)))
    if request.mode is Mode.BATCH:
        return InputPlan(splits={stream: tuple(splits.plan_splits(selection.files, splits.SPLIT_BYTES))
                                 for stream, selection in request.binding.inputs.items()})
    return InputPlan()


def plan_replay(request: JobRequest) -> replay.ReplayPlan:
    pipeline, binding = request.effective, request.binding
    inputs = {}
    for stream, selection in binding.inputs.items():
        contract = request.contract(stream)
        parse = readers.raw_parser(request.parser(stream), binding.input_format)
        records = _shown_as_progress(readers.iter_records(selection.files, contract.schema))
        key_of = None
        if stream == pipeline.aggregated_input:
            key_value = pipeline.aggregation.key_value
            key_of = lambda event, key_value=key_value: key_value(event)[0]  # noqa: E731
        inputs[stream] = replay.ReplayInput(
            parsed=readers.parse_records(records, parse, stream),
            event_time_ms=operator.attrgetter(contract.event_time_field),
            too_late=pipeline.too_late(stream), fold=request.fold(stream), key_of=key_of)
    return replay.plan_replay(inputs, request.max_out_of_orderness_ms, pipeline.spec)


def _shown_as_progress(records: Iterable[Any]) -> Iterator[Any]:
    for record in records:
        metrics.records_read_outside_a_pipeline()
        yield record


@dataclasses.dataclass
class _Sources:
    """What the sources of a run made of its inputs."""

    streams: Dict[str, beam.PCollection]
    arrives: Dict[str, Arrives]
    dead_letters: List[beam.PCollection]
    late: List[beam.PCollection]
    tally: List[beam.PCollection]


def build(pipeline: beam.Pipeline, request: JobRequest, plan: InputPlan = InputPlan()) -> None:
    """The job graph; a bounded run takes the plan of what it reads."""
    read = {Mode.BATCH: _read_archives, Mode.REPLAY: _replay, Mode.STREAM: _read_kafka}[request.mode]
    sources = read(pipeline, request, plan)
    outputs = dict(sources.streams | request.effective.transform(sources.arrives))
    pipeline_tally = outputs.pop(TALLY, None)
    if pipeline_tally is not None:
        sources.tally.append(pipeline_tally)
    if request.alert_webhook is not None:
        outputs[ALERTS] | "PostAlerts" >> webhook.PostJson(request.alert_webhook, request.pipeline.outputs[ALERTS].key)
    if request.mode is Mode.STREAM:
        _write_to_kafka(pipeline, outputs, sources, request)
    else:
        _write_to_files(pipeline, outputs, sources, request)


def _read_archives(pipeline: beam.Pipeline, request: JobRequest, plan: InputPlan) -> _Sources:
    sources = _Sources({}, {}, [], [], [])
    for stream in request.pipeline.inputs:
        fold = request.fold(stream)
        parsed = (
            pipeline
            | f"PlanSplits{_label(stream)}" >> beam.Create(plan.splits[stream])
            | f"SpreadSplits{_label(stream)}" >> beam.Reshuffle()
            | f"Read{_label(stream)}" >> readers.ReadSplits(stream, request.contract(stream), request.parser(stream),
                                                            fold)
        )
        sources.streams[stream] = parsed.valid
        sources.arrives[stream] = Arrives.PARTIALS if fold is not None else Arrives.EVENTS
        sources.dead_letters.append(parsed.dead_letters)
        sources.tally.append(parsed.tally)
    return sources


def _replay(pipeline: beam.Pipeline, request: JobRequest, plan: InputPlan) -> _Sources:
    recorded = plan.replay
    sources = _Sources({}, {}, [], [], [])
    if plan.panes is not None:
        stream = request.pipeline.aggregated_input
        sources.streams[stream] = pipeline | "ReplayPanes" >> replay_panes.PlayedPanes(plan.panes)
        sources.arrives[stream] = Arrives.PANES
    else:
        types = {stream: Any if request.pre_aggregates(stream) else request.contract(stream).record_type
                 for stream in request.pipeline.inputs}
        sources.streams = pipeline | "Replay" >> replay.ReplayStreams(recorded.steps, types)
        sources.arrives = {stream: Arrives.PARTIALS if request.pre_aggregates(stream) else Arrives.EVENTS
                           for stream in types}
    sources.dead_letters.append(
        pipeline | "ReplayDeadLetters" >> beam.Create(recorded.dead_letters).with_output_types(Any))
    sources.late.append(pipeline | "ReplayLate" >> beam.Create(recorded.late).with_output_types(Any))
    return sources


def _read_kafka(pipeline: beam.Pipeline, request: JobRequest, plan: InputPlan) -> _Sources:
    sources = _Sources({}, {}, [], [], [])
    effective = request.effective
    for stream, source in request.binding.sources.items():
        contract, fold = request.contract(stream), request.fold(stream)
        input_stream = kafka.InputStream(
            name=stream, decode=Decoder(contract.subject, request.parser(stream)),
            event_time_ms=operator.attrgetter(contract.event_time_field), too_late=effective.too_late(stream),
            fold=fold)
        parsed = (
            pipeline
            | f"ReadKafka{_label(stream)}" >> kafka.ReadFromKafka(source, input_stream)
            | f"Sort{_label(stream)}" >> readers.SortDecoded(stream, None if fold else contract.record_type)
        )
        sources.streams[stream] = parsed.valid
        sources.arrives[stream] = Arrives.PARTIALS if fold is not None else Arrives.EVENTS
        sources.dead_letters.append(parsed.dead_letters)
        sources.late.append(parsed.late)
    return sources


def _label(stream: str) -> str:
    return "".join(part.capitalize() for part in stream.replace("_", "-").split("-"))


class _Line:
    """An output's record -> (the shard's path prefix, its JSON line)."""

    def __init__(self, prefix: str, encode: Callable[[Any], str]):
        self._prefix = prefix
        self._encode = encode

    def __call__(self, record: Any) -> Tuple[str, str]:
        return self._prefix, self._encode(record)


def _to_json(record: Any) -> str:
    return record.to_json() if hasattr(record, "to_json") else json.dumps(record)


def _flattened(pcolls: List[beam.PCollection], label: str) -> Optional[beam.PCollection]:
    if not pcolls:
        return None
    return pcolls[0] if len(pcolls) == 1 else pcolls | label >> beam.Flatten()


def _whole_tally(tallies: List[beam.PCollection]) -> Optional[beam.PCollection]:
    """The sources' and the pipeline's tallies, from whatever windows they were counted in, as one
    PCollection of the global window that is complete when the input is."""
    complete = [writers.when_complete(tally, f"TallyWindow{i}") for i, tally in enumerate(tallies)]
    return _flattened(complete, "AllTally")


def _summed_tally(tally: beam.PCollection) -> beam.PCollection:
    return (tally
            | "TallyByMeasure" >> beam.Map(lambda t: ((t.stream, t.measure), t.n))
            | "SumTally" >> beam.CombinePerKey(sum)
            | "AsTally" >> beam.MapTuple(lambda stream_measure, n: Tally(*stream_measure, n)._asdict()))


def _counted_outputs(outputs: Dict[str, beam.PCollection], figures: Optional[beam.CombineFn]) -> List[beam.PCollection]:
    """Each output's record count and the pipeline's figures of its main output, counted in the job
    (as `summary.Facts` lines), so that the summary never reads a sink back."""
    counted = []
    for name, pcoll in outputs.items():
        label = _label(name)
        whole = writers.when_complete(pcoll, f"Whole{label}")
        counted.append(whole
                       | f"Count{label}" >> CombineInBundles(beam.combiners.CountCombineFn())
                       | f"AsCount{label}" >> beam.Map(lambda n, name=name: {summary.OUTPUT: name, summary.RECORDS: n}))
        if name == MAIN_OUTPUT and figures is not None:
            counted.append(whole
                           | "Figures" >> CombineInBundles(figures)
                           | "AsFigures" >> beam.Map(lambda figures: {summary.FIGURES: figures}))
    return counted


def _write_to_files(pipeline: beam.Pipeline, outputs: Dict[str, beam.PCollection], sources: _Sources,
                    request: JobRequest) -> None:
    out = request.binding.output_dir
    lines = [pcoll | f"Encode{_label(name)}" >> beam.Map(_Line(os.path.join(out, name), _to_json))
             for name, pcoll in outputs.items()]
    for what, prefix, pcolls in (("DeadLetters", writers.DEAD_LETTERS, sources.dead_letters),
                                 ("Late", writers.LATE, sources.late)):
        flattened = _flattened(pcolls, f"All{what}")
        if flattened is not None:
            lines.append(flattened | f"Encode{what}" >> beam.Map(_Line(os.path.join(out, prefix), _to_json)))
    facts = _counted_outputs(outputs, request.effective.figures())
    tally = _whole_tally(sources.tally)
    if tally is not None:
        facts.append(_summed_tally(tally))
    lines.append(_flattened(facts, "AllFacts")
                 | "EncodeFacts" >> beam.Map(_Line(os.path.join(out, summary.FACTS), json.dumps)))
    tuple(lines) | "Write" >> writers.WriteJsonLines()


class _KeyedRecord:
    """A result -> (its key, its value in the output format): the latest value per key is current."""

    def __init__(self, key_field: str, encode: Encoder):
        self._key_field = key_field
        self._encode = encode

    def __call__(self, result: Dict[str, Any]) -> Tuple[bytes, bytes]:
        return str(result[self._key_field]).encode(), self._encode(result)


class _CountTally(beam.DoFn):
    """A stream's tally as Beam counters (`kappa/<stream>/<measure>`), for an operator's dashboards."""

    def process(self, tally: Tally):
        metrics.counter(f"{tally.stream}/{tally.measure}").inc(tally.n)
        return ()


def _write_to_kafka(pipeline: beam.Pipeline, outputs: Dict[str, beam.PCollection], sources: _Sources,
                    request: JobRequest) -> None:
    binding = request.binding
    for name, results in outputs.items():
        declared = request.pipeline.outputs[name]
        (
            results
            | f"Encode{_label(name)}" >> beam.Map(_KeyedRecord(declared.key, Encoder(declared.subject,
                                                                                      binding.value_format)))
            | f"Write{_label(name)}" >> kafka.WriteToKafka(binding.bootstrap_servers, binding.output_topics[name])
        )
    (
        _flattened(sources.dead_letters, "AllDeadLetters")
        | "EncodeDeadLetters" >> beam.Map(lambda d: (d.origin and d.origin.encode(), d.to_json().encode()))
        | "WriteDeadLetters" >> kafka.WriteToKafka(binding.bootstrap_servers, binding.dead_letter_topic)
    )
    (
        _flattened(sources.late, "AllLate")
        | "EncodeLate" >> beam.Map(lambda late: (late.stream.encode(), late.to_json().encode()))
        | "WriteLate" >> kafka.WriteToKafka(binding.bootstrap_servers, binding.late_topic)
    )
    tally = _flattened(sources.tally, "AllTally")  # counted as it comes: no window needs to close
    if tally is not None:
        tally | "CountTally" >> beam.ParDo(_CountTally())


def run(request: JobRequest) -> Dict[str, Any]:
    """Runs the job and returns its summary: batch and replay to completion (also written to
    `<output>/summary.json`); stream until stopped, or until submitted when the runner detaches."""
    if request.mode is Mode.STREAM:
        return _run_stream(request)
    out = request.binding.output_dir
    prefixes = _file_prefixes(request.pipeline)
    writers.clear_outputs(out, prefixes + [summary.FACTS])
    started = time.monotonic()
    plan = plan_inputs(request)
    pipeline = request.profile.pipeline(request.mode, plan.workers)
    build(pipeline, request, plan)
    result = pipeline.run()
    result.wait_until_finish()
    elapsed = time.monotonic() - started
    writers.ensure_outputs(out, prefixes)
    facts = _read_facts(out)
    if plan.replay is not None:
        for stream, replayed in plan.replay.counts.items():
            facts.counts.setdefault(stream, {}).update(replayed)
    report = summary.summarise(request, facts, elapsed)
    summary.write(report, out)
    return report


def _file_prefixes(pipeline: Pipeline) -> List[str]:
    return [*pipeline.outputs, writers.DEAD_LETTERS, writers.LATE]


def _read_facts(output_dir: str) -> summary.Facts:
    """What the job counted; its shard is removed once read."""
    facts = summary.Facts.of(writers.read_json_lines(output_dir, summary.FACTS))
    for path in writers.shards(output_dir, summary.FACTS):
        os.remove(path)
    return facts


def _run_stream(request: JobRequest) -> Dict[str, Any]:
    binding = request.binding
    partitions = max(len(kafka.partitions_of(binding.bootstrap_servers, source.topic))
                     for source in binding.sources.values())
    for topic in (*binding.output_topics.values(), binding.dead_letter_topic, binding.late_topic):
        kafka.create_topic(binding.bootstrap_servers, topic, partitions)
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
