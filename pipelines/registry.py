"""The pipelines the CLI can run: every module of this package that holds a `PIPELINE`, found by name,
so adding a pipeline is adding its module."""
from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Dict, List

from kappa import pipelines
from kappa.pipelines.model import Input, Pipeline


@functools.lru_cache(maxsize=None)
def _pipelines() -> Dict[str, Pipeline]:
    found: Dict[str, Pipeline] = {}
    for module_info in pkgutil.iter_modules(pipelines.__path__):
        module = importlib.import_module(f"{pipelines.__name__}.{module_info.name}")
        pipeline = getattr(module, "PIPELINE", None)
        if isinstance(pipeline, Pipeline):
            found[pipeline.name] = pipeline
    return found


def names() -> List[str]:
    return sorted(_pipelines())


def input_kinds() -> Dict[str, Input]:
    """Every pipeline's inputs by name: one name is one kind of event, whichever pipeline reads it."""
    kinds: Dict[str, Input] = {}
    for pipeline in _pipelines().values():
        for stream, declared in pipeline.inputs.items():
            known = kinds.setdefault(stream, declared)
            if known.subject != declared.subject:
                raise TypeError(f"input {stream!r} is {known.subject!r} in one pipeline and {declared.subject!r} "
                                f"in {pipeline.name}: one name, one contract")
    return kinds


def get(name: str) -> Pipeline:
    if name not in _pipelines():
        raise KeyError(f"unknown pipeline {name!r} (known: {', '.join(names())})")
    return _pipelines()[name]
