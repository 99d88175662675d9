"""One run of a registered pipeline: pick the source for the mode, apply the pipeline, write, summarise.

The pipeline transform is the same in every mode; only what feeds it and what runs it change:
- batch: the archive is read as a bounded source; the windowing keeps its windows and lateness but
  emits one final pane per window (see `WindowSpec.final_only`);
- replay: the archive is played as a stream (`kappa.io.replay`) with the windowing exactly as declared.
"""
from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Dict, Optional

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from kappa.io import readers, replay, writers
from kappa.io.orders import InvalidRecord
from kappa.pipelines.registry import PipelineDefinition
from kappa.runners import summary
from kappa.runners.profiles import Mode, RunnerProfile
from kappa.transforms import metrics
from kappa.transforms.windowing import WindowSpec


@dataclasses.dataclass(frozen=True)
class JobRequest:
    definition: PipelineDefinition
    spec: WindowSpec
    input_pattern: str
    input_format: readers.RecordFormat
    output_dir: str
    mode: Mode
    profile: RunnerProfile
    max_out_of_orderness_ms: int = 5_000

    @property
    def effective_spec(self) -> WindowSpec:
        return self.spec.final_only() if self.mode is Mode.BATCH else self.spec


def plan_replay(request: JobRequest) -> replay.ReplayPlan:
    parse = readers.order_parser(request.input_format)

    def event_time_ms(raw: Any) -> Optional[int]:
        try:
            return parse(raw).event_time
        except (InvalidRecord, TypeError):
            return None

    records = readers.iter_raw_records(request.input_pattern, request.input_format)
    return replay.plan_replay(records, event_time_ms, request.max_out_of_orderness_ms, request.effective_spec)


def build(pipeline: beam.Pipeline, request: JobRequest, plan: Optional[replay.ReplayPlan] = None) -> None:
    """The job graph; replay mode takes the plan of the stream it replays."""
    if request.mode is Mode.BATCH:
        source = readers.ReadRawRecords(request.input_pattern, request.input_format)
    else:
        source = replay.to_test_stream(plan.steps)
    raw = pipeline | "Read" >> source
    parsed = raw | "ParseOrders" >> readers.ParseOrders(request.input_format)
    results = parsed.valid | request.definition.name >> request.definition.transform(request.effective_spec)
    (
        results
        | "EncodeResults" >> beam.Map(json.dumps)
        | "WriteResults" >> writers.WriteJsonLines(request.output_dir, writers.RESULTS)
    )
    (
        parsed.dead_letters
        | "EncodeDeadLetters" >> beam.Map(lambda d: d.to_json())
        | "WriteDeadLetters" >> writers.WriteJsonLines(request.output_dir, writers.DEAD_LETTERS)
    )


def _counters(result) -> Dict[str, int]:
    query = result.metrics().query(MetricsFilter().with_namespace(metrics.NAMESPACE))
    totals: Dict[str, int] = {}
    for counter in query["counters"]:
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + counter.committed
    return totals


def run(request: JobRequest) -> Dict[str, Any]:
    """Runs the job to completion and returns its summary (also written to `<output>/summary.json`)."""
    writers.clear_outputs(request.output_dir)
    started = time.monotonic()
    plan = plan_replay(request) if request.mode is Mode.REPLAY else None
    pipeline = request.profile.pipeline(request.mode)
    build(pipeline, request, plan)
    result = pipeline.run()
    result.wait_until_finish()
    elapsed = time.monotonic() - started
    writers.ensure_outputs(request.output_dir)
    report = summary.summarise(request, _counters(result), elapsed, plan)
    summary.write(report, request.output_dir)
    return report
