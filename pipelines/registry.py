"""The pipelines the CLI can run, each registered by its own module with a name and a default WindowSpec."""
from __future__ import annotations

import dataclasses
import importlib
from typing import Callable, Dict, List

import apache_beam as beam

from kappa.transforms.aggregation import WindowedAggregation
from kappa.transforms.windowing import WindowSpec

# Modules that register a pipeline when imported; a new job adds its module here.
_PIPELINE_MODULES = ("kappa.pipelines.orders_per_minute",)


@dataclasses.dataclass(frozen=True)
class PipelineDefinition:
    name: str
    event_type: type
    default_spec: WindowSpec
    description: str
    transform: Callable[[WindowSpec], beam.PTransform]  # valid events -> window results
    # The transform is `aggregation` followed by `results`; declared apart, a backfill can pre-aggregate.
    aggregation: WindowedAggregation
    results: Callable[[WindowSpec], beam.PTransform]  # (key, combined output) per pane -> window results
    key_field: str  # the field of a window result that holds its key, e.g. "region"
    value_field: str  # the field that holds its aggregate, e.g. "count"


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
