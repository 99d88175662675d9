"""Count distinct ids per key and window, and sum their amounts: redeliveries of an at-least-once source
count once.

Deduplication lives in the combiner (a set of ids per key and window) rather than in per-element user
state: combiner lifting pre-aggregates before the shuffle on every runner, merging (session) windows
merge their sets, and there is no per-record state access, which in Beam's Python SDK harness costs
about a millisecond (its state cache weighs every value it stores).

Panes are always accumulated by the runner (see `ApplyWindowing`), so each pane knows every id seen so
far and a redelivery in a later pane is still recognised. When the spec asks for discarding results,
each pane is turned into the delta since the previous pane of its window, which needs one small state
cell per key and window; so does the tally of windows that fire several times. A spec whose windows
fire exactly once needs none, nor do sliding windows accumulating: they report no tally, so a pane
is passed on as it is, sparing a state read and write per pane (what bounded how fast a stream of
concurrent-viewers' minutes came out).

Amounts are summed with `math.fsum`, which rounds the exact sum once whatever order the values were
added and merged in, so every runner, plan and split gives the same total to the cent.

Beside the counts, each pane reports what it added to the input's tally: `used` (distinct records) and
`duplicates` (redeliveries), as of the latest pane, so that for windows that hold each record once
`records_in = used + duplicates + dead letters + too late`.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Iterator, NamedTuple, Optional, Set, Tuple, Union

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from kappa.transforms.tally import DUPLICATES, USED, Tally
from kappa.transforms.windowing import Accumulation, WindowKind, WindowSpec

TALLY_TAG = "tally"


class DistinctCount(NamedTuple):
    distinct: int
    seen: int  # inputs, redeliveries included


class DistinctCountFn(beam.CombineFn):
    """ids -> DistinctCount; the accumulator is (set of ids, number of inputs)."""

    def create_accumulator(self) -> Tuple[Set[str], int]:
        return set(), 0

    def add_input(self, accumulator, element: str):
        ids, seen = accumulator
        ids.add(element)
        return ids, seen + 1

    def add_inputs(self, accumulator, elements: Iterable[str]):
        ids, seen = accumulator
        elements = elements if isinstance(elements, (list, tuple)) else list(elements)
        ids.update(elements)
        return ids, seen + len(elements)

    def merge_accumulators(self, accumulators: Iterable[Tuple[Set[str], int]]):
        accumulators = iter(accumulators)
        # The first is extended in place, not copied; there may be none (see `_has_inputs`).
        ids, seen = next(accumulators, None) or self.create_accumulator()
        for other_ids, other_seen in accumulators:
            ids |= other_ids
            seen += other_seen
        return ids, seen

    def extract_output(self, accumulator) -> DistinctCount:
        ids, seen = accumulator
        return DistinctCount(distinct=len(ids), seen=seen)


class DistinctSum(NamedTuple):
    distinct: int
    seen: int  # inputs, redeliveries included
    cents: int  # the distinct ids' amounts, summed, in cents


class DistinctSumFn(beam.CombineFn):
    """(id, amount) pairs -> DistinctSum; the accumulator is ({id: amount}, number of inputs). A
    redelivered id carries its amount again, which replaces (and equals) the first."""

    def create_accumulator(self) -> Tuple[Dict[str, float], int]:
        return {}, 0

    def add_input(self, accumulator, element: Tuple[str, float]):
        amounts, seen = accumulator
        amounts[element[0]] = element[1]
        return amounts, seen + 1

    def add_inputs(self, accumulator, elements: Iterable[Tuple[str, float]]):
        amounts, seen = accumulator
        elements = elements if isinstance(elements, (list, tuple)) else list(elements)
        amounts.update(elements)
        return amounts, seen + len(elements)

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        amounts, seen = next(accumulators, None) or self.create_accumulator()  # the first, extended in place
        for other_amounts, other_seen in accumulators:
            amounts.update(other_amounts)
            seen += other_seen
        return amounts, seen

    def extract_output(self, accumulator) -> DistinctSum:
        amounts, seen = accumulator
        return DistinctSum(distinct=len(amounts), seen=seen, cents=round(math.fsum(amounts.values()) * 100))


Distinct = Union[DistinctCount, DistinctSum]


def _has_inputs(keyed: Tuple[str, Distinct]) -> bool:
    """A pane without inputs says nothing. Flink emits one when a window's end-of-window and garbage
    collection timers fire in the same watermark advance: the first pane is already final."""
    return keyed[1].seen > 0


def _tallied(stream: str, distinct: int, seen: int) -> Iterator[beam.pvalue.TaggedOutput]:
    if distinct:
        yield beam.pvalue.TaggedOutput(TALLY_TAG, Tally(stream, USED, distinct))
    if seen - distinct:
        yield beam.pvalue.TaggedOutput(TALLY_TAG, Tally(stream, DUPLICATES, seen - distinct))


class _CountSinglePane(beam.DoFn):
    """Windows that fire once: the pane is the final result."""

    def __init__(self, stream: str) -> None:
        self._stream = stream

    def process(self, keyed: Tuple[str, Distinct]):
        key, result = keyed
        yield from _tallied(self._stream, result.distinct, result.seen)
        yield key, result


class _CountRepeatedPanes(beam.DoFn):
    """Windows that fire several times: remember the previous pane to count (and report) only what is new."""

    PREVIOUS = ReadModifyWriteStateSpec("previous", PickleCoder())

    def __init__(self, stream: str, discarding: bool) -> None:
        self._stream = stream
        self._discarding = discarding

    def process(self, keyed: Tuple[str, Distinct], previous=beam.DoFn.StateParam(PREVIOUS)):
        key, result = keyed
        before = previous.read() or type(result)(*(0 for _ in result))
        previous.write(result)
        yield from _tallied(self._stream, result.distinct - before.distinct, result.seen - before.seen)
        yield key, (type(result)(*(now - then for now, then in zip(result, before))) if self._discarding else result)


class DistinctCounts(NamedTuple):
    counts: beam.PCollection  # (key, DistinctCount or DistinctSum) per pane: the whole, or what is new
    tally: Optional[beam.PCollection]  # Tally records of the stream; None for sliding windows, which
    # hold a record several times, so their counts say nothing of it


class DistinctCountPanes(beam.PTransform):
    """(key, DistinctCount or DistinctSum) per pane of a `DistinctCountFn` or `DistinctSumFn` aggregation
    of `stream` -> `DistinctCounts`: per pane the result so far, or with discarding accumulation what
    is new since the key's previous pane; and the stream's tally."""

    def __init__(self, spec: WindowSpec, stream: str):
        super().__init__()
        self._spec = spec
        self._stream = stream

    def expand(self, totals):
        # Typed, so the state of `_CountRepeatedPanes` is keyed with a deterministic (string) coder; the
        # value stays Any (a Union of row types has no portable schema: Flink refuses it).
        totals = totals | "DropEmptyPanes" >> beam.Filter(_has_inputs).with_output_types(Tuple[str, Any])
        per_record = self._spec.kind is not WindowKind.SLIDING
        discarding = self._spec.accumulation is Accumulation.DISCARDING
        if not (per_record or discarding):
            return DistinctCounts(counts=totals, tally=None)
        if self._spec.fires_once:
            label, count = "FinalPane", _CountSinglePane(self._stream)
        else:
            label, count = "PaneByPane", _CountRepeatedPanes(self._stream, discarding)
        counted = totals | label >> beam.ParDo(count).with_outputs(TALLY_TAG, main="counts")
        return DistinctCounts(counts=counted.counts, tally=counted[TALLY_TAG] if per_record else None)
