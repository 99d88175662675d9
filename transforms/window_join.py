"""A full outer join of keyed streams per key and event-time window, declared once.

    joined = {"requests": demand, "drivers": supply} | WindowJoin(spec, {"requests": CountFn(), ...})

Each side is a PCollection of (key, value). The join tags every value with its side, flattens the
sides, applies the one `WindowSpec` to all of them and folds each (key, window) with one combiner per
side (the windowed join as a fold over tagged values): each pane is (key, {side: that side's combined
output}), with every side present, an absent side as its combiner's output of nothing. So the sides
cannot drift apart in windowing, trigger or lateness, and combiner lifting pre-aggregates both before
the shuffle. The join checks when it is built that every side arrives unwindowed and keyed by one key type with
a deterministic coder: a side windowed on its own could not be flattened with the others, and one
keyed by another type would silently match nothing.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Tuple

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from kappa.transforms import keyed_state
from kappa.transforms.windowing import WindowSpec

Tagged = Tuple[int, Any]  # (side index, value)


class JoinFn(beam.CombineFn):
    """Tagged values -> {side: its combiner's output}; the accumulator is one accumulator per side."""

    def __init__(self, combiners: Mapping[str, beam.CombineFn]):
        self._sides = tuple(combiners)
        self._fns = tuple(combiners.values())

    def create_accumulator(self) -> List[Any]:
        return [fn.create_accumulator() for fn in self._fns]

    def add_input(self, accumulator: List[Any], tagged: Tagged) -> List[Any]:
        side, value = tagged
        accumulator[side] = self._fns[side].add_input(accumulator[side], value)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[List[Any]]) -> List[Any]:
        per_side = list(zip(*accumulators))
        if not per_side:
            return self.create_accumulator()
        return [fn.merge_accumulators(side) for fn, side in zip(self._fns, per_side)]

    def compact(self, accumulator: List[Any]) -> List[Any]:
        return [fn.compact(side) for fn, side in zip(self._fns, accumulator)]

    def extract_output(self, accumulator: List[Any]) -> Dict[str, Any]:
        return {name: fn.extract_output(side) for name, fn, side in zip(self._sides, self._fns, accumulator)}


class _Tag:
    def __init__(self, side: int):
        self._side = side

    def __call__(self, keyed: Tuple[Any, Any]) -> Tuple[Any, Tagged]:
        return keyed[0], (self._side, keyed[1])


class WindowJoin(beam.PTransform):
    """{side: PCollection[(key, value)]} -> PCollection[(key, {side: combined output})] per pane of each
    (key, window) of `spec` that any side has a value in."""

    def __init__(self, spec: WindowSpec, combiners: Mapping[str, beam.CombineFn]):
        super().__init__()
        self._spec = spec
        self._combiners = dict(combiners)

    def expand(self, sides: Mapping[str, beam.PCollection]) -> beam.PCollection:
        if set(sides) != set(self._combiners):
            raise TypeError(f"WindowJoin: sides {sorted(sides)} but combiners for {sorted(self._combiners)}")
        key_type = self._check_sides(sides)
        tagged = [sides[name] | f"Tag{name.capitalize()}" >> beam.Map(_Tag(index)).with_output_types(
                      Tuple[key_type, Tuple[int, Any]])
                  for index, name in enumerate(self._combiners)]
        return (tagged
                | "Sides" >> beam.Flatten()
                | "Window" >> self._spec.window_into()
                | "Join" >> beam.CombinePerKey(JoinFn(self._combiners)))

    def _check_sides(self, sides: Mapping[str, beam.PCollection]) -> Any:
        key_types = {}
        for name, pcoll in sides.items():
            where = f"WindowJoin side {name!r}"
            windowed = pcoll.windowing.windowfn
            if not isinstance(windowed, GlobalWindows):
                raise TypeError(f"{where} is windowed by {type(windowed).__name__}: leave it unwindowed, the "
                                f"join windows every side by its {self._spec.describe()}")
            key_type = getattr(pcoll.element_type, "tuple_types", (None,))[0]
            if key_type is None:
                raise TypeError(f"{where} has element type {keyed_state.type_name(pcoll.element_type)}, "
                                "not Tuple[key, value]")
            keyed_state.require_deterministic_key(key_type, where)
            key_types[name] = key_type
        if len(set(key_types.values())) > 1:
            raise TypeError("WindowJoin sides are keyed by different types: " + ", ".join(
                f"{name} by {keyed_state.type_name(key_type)}" for name, key_type in key_types.items()))
        return next(iter(key_types.values()))
