"""What a pipeline declares, so that the runner can bind it in every mode with no code of its own.

A pipeline is one module under `pipelines/` holding a `Pipeline` value named `PIPELINE`:
- named inputs, each bound to an event contract (a subject of the schema registry), e.g.
  `payments: payment`. Every input PCollection it receives holds the contract's record type, each
  element timestamped with its own event time, with dead letters and too-late records already taken
  out by the source;
- its windowing: each window or interval it uses, declared once as a named value; the one
  `WindowSpec` of a windowed pipeline (or the allowed lateness of one without) is what the CLI's
  windowing flags override;
- named outputs, each with a result contract (a subject under `schemas/`) and the field that keys
  it (the Kafka key, a primary key, a document id); `results` is the main one;
- `expand`: a dict of input PCollections -> a dict of output PCollections. It knows nothing of
  files, Kafka or runners, so the tests of the transform are the tests of every deployment.

Two hooks let the runner be fast where it pays without knowing the pipeline:
- a reader that holds many events at once (a backfill's file split, a read of a Kafka partition, a
  replay's records that arrive together) hands on what the pipeline's `fold` makes of them instead of
  each event: by default, for an input consumed by one keyed windowed aggregation it names
  (`aggregation`), their partial aggregates (and a replay on the direct runner may play that grouping
  in process); a pipeline with a bounded plan may fold a backfill's splits for it. `expand` is told
  which form each input arrives in (`Arrives`);
- `expand` may return, beside its outputs, a `TALLY` PCollection of `Tally(stream, measure, n)`
  records (how many records of a stream it used, and how many were duplicates), which the runner
  sums into the run's summary, whatever the sinks are; None when it cannot say.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, Mapping, Optional, Union

import apache_beam as beam

from kappa.transforms.aggregation import Arrives, Fold, FoldEvents, WindowedAggregation
from kappa.transforms.lateness import BehindWatermark, WindowExpiry
from kappa.transforms.windowing import WindowSpec, format_duration_ms

TALLY = "_tally"  # the key of expand's tally PCollection; never a sink
MAIN_OUTPUT = "results"
ALERTS = "alerts"  # an output of records to act on now: `--alert-webhook` also posts them


@dataclasses.dataclass(frozen=True)
class Input:
    subject: str  # the event contract: schemas/<subject>/
    key: str  # the field a producer keys its Kafka records by (the event's id), so redeliveries share a partition
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class Output:
    subject: str  # the result contract: schemas/<subject>/
    key: str = "key"  # the field that keys each record: upserts by it
    topic: Optional[str] = None  # stream mode's default topic; None: the output's name
    doc: str = ""


Declaration = Any  # a named windowing value: a WindowSpec, an Interval, ...


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """The declarations are class attributes of a subclass; the fields are what a run configures."""

    name: ClassVar[str]
    description: ClassVar[str]
    inputs: ClassVar[Mapping[str, Input]]
    outputs: ClassVar[Mapping[str, Output]]
    dead_letter_topic: ClassVar[Optional[str]] = None  # None: <name>-dead-letter
    # The input an aggregation is declared for, and the aggregation (see the module's docstring).
    aggregated_input: ClassVar[Optional[str]] = None
    aggregation: ClassVar[Optional[WindowedAggregation]] = None

    spec: Optional[WindowSpec] = None  # a windowed pipeline's windowing, overridden by the CLI's flags
    allowed_lateness_ms: int = 0  # a pipeline without a WindowSpec: how long it waits for late records
    # A backfill: every input is a bounded archive read whole, so a stateful transform may take its
    # bounded plan (all of a key's events at once, no timers), which gives the same results.
    bounded: bool = False

    def windowing(self) -> Dict[str, Declaration]:
        """Each named window or interval, as declared (and configured)."""
        return {"window": self.spec} if self.spec is not None else {}

    def describe_windowing(self) -> str:
        declared = self.windowing()
        if self.spec is not None and len(declared) == 1:
            return self.spec.describe()
        parts = [f"{name}: {value.describe()}" for name, value in declared.items()]
        if self.spec is None:
            parts.append(f"lateness {format_duration_ms(self.lateness_ms)}")
        return "; ".join(parts)

    @property
    def lateness_ms(self) -> int:
        return self.spec.allowed_lateness_ms if self.spec is not None else self.allowed_lateness_ms

    def configured(self, spec: Optional[WindowSpec] = None, allowed_lateness_ms: Optional[int] = None) -> "Pipeline":
        changes: Dict[str, Any] = {}
        if spec is not None:
            changes["spec"] = spec
        if allowed_lateness_ms is not None:
            changes["allowed_lateness_ms"] = allowed_lateness_ms
        return dataclasses.replace(self, **changes)

    def for_backfill(self) -> "Pipeline":
        """As a backfill runs it: bounded, and each window gives one final pane (`WindowSpec.final_only`)."""
        return dataclasses.replace(self, bounded=True, spec=self.spec and self.spec.final_only())

    def too_late(self, stream: str) -> Union[WindowExpiry, BehindWatermark]:
        """The rule the source applies to the stream's valid records (`kappa.transforms.lateness`)."""
        if stream == self.aggregated_input:
            return WindowExpiry(self.spec)
        return BehindWatermark(self.lateness_ms)

    def can_pre_aggregate(self, stream: str) -> bool:
        return stream == self.aggregated_input and self.aggregation.can_pre_aggregate(self.spec)

    def fold(self, stream: str) -> Optional[Fold]:
        """What a reader hands on in place of the stream's events it holds at once (they arrive as
        `Arrives.PARTIALS`), or None: each event on its own. By default the declared aggregation's
        partials, where the windowing allows (`kappa.transforms.aggregation`)."""
        if not self.can_pre_aggregate(stream):
            return None
        return FoldEvents(self.aggregation, self.spec)

    def default_dead_letter_topic(self) -> str:
        return self.dead_letter_topic or f"{self.name}-dead-letter"

    def default_late_topic(self) -> str:
        return f"{self.name}-late"

    def default_output_topic(self, output: str) -> str:
        return self.outputs[output].topic or output

    def transform(self, arrives: Optional[Mapping[str, Arrives]] = None) -> beam.PTransform:
        """The pipeline as one composite: {input: PCollection} -> {output: PCollection}."""
        return _Expand(self, dict(arrives or {}))

    def expand(self, streams: Mapping[str, beam.PCollection],
               arrives: Mapping[str, Arrives]) -> Dict[str, beam.PCollection]:
        raise NotImplementedError

    def figures(self) -> Optional[beam.CombineFn]:
        """Figures of the main output for a bounded run's summary (e.g. per-key totals): a CombineFn of
        its records to a dict, computed in the job, so that they need no read of the sink; none by
        default."""
        return None


class _Expand(beam.PTransform):
    def __init__(self, pipeline: Pipeline, arrives: Dict[str, Arrives]):
        super().__init__(label=pipeline.name)
        self._pipeline = pipeline
        self._arrives = arrives

    def expand(self, streams):
        arrives = {name: self._arrives.get(name, Arrives.EVENTS) for name in self._pipeline.inputs}
        return self._pipeline.expand(streams, arrives)
