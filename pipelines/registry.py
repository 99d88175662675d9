"""The pipelines the CLI can run, each registered by its own module with a name and a default WindowSpec."""
from __future__ import annotations

import dataclasses
import importlib
from typing import Callable, Dict, List

import apache_beam as beam

from kappa.transforms.aggregation import AggregatePerElement, MergePartials, WindowedAggregation
from kappa.transforms.windowing import WindowSpec

# Modules that register a pipeline when imported; a new job adds its module here.
_PIPELINE_MODULES = ("kappa.pipelines.orders_per_minute",)


@dataclasses.dataclass(frozen=True)
class PipelineDefinition:
    name: str
    event_type: type
    default_spec: WindowSpec
    description: str
    # The pipeline is `aggregation` followed by `results`, declared apart so that a reader can
    # pre-aggregate what it holds (kappa.transforms.aggregation).
    aggregation: WindowedAggregation
    results: Callable[[WindowSpec], beam.PTransform]  # (key, combined output) per pane -> window results
    key_field: str  # the field of a window result that holds its key, e.g. "region"
    value_field: str  # the field that holds its aggregate, e.g. "count"
    input_subject: str  # the schema subject of its events; its results' subject is its name

    def per_element(self, spec: WindowSpec) -> beam.PTransform:
        """Valid events -> window results: the plan every window kind and trigger can run."""
        return _Then(AggregatePerElement(self.aggregation, spec), self.results(spec))

    def pre_aggregated(self, spec: WindowSpec) -> beam.PTransform:
        """Partials folded by `FoldEvents` -> the same window results."""
        return _Then(MergePartials(self.aggregation, spec), self.results(spec))


class _Then(beam.PTransform):
    def __init__(self, aggregate: beam.PTransform, results: beam.PTransform):
        super().__init__()
        self._aggregate = aggregate
        self._results = results

    def expand(self, pcoll):
        return pcoll | "Aggregate" >> self._aggregate | "Results" >> self._results


_REGISTRY: Dict[str, PipelineDefinition] = {}


def register(definition: PipelineDefinition) -> None:
    _REGISTRY[definition.name] = definition


def _load() -> None:
    for module in _PIPELINE_MODULES:
        importlib.import_module(module)


def names() -> List[str]:
    _load()
    return sorted(_REGISTRY)


def get(name: str) -> PipelineDefinition:
    _load()
    if name not in _REGISTRY:
        raise KeyError(f"unknown pipeline {name!r} (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]
