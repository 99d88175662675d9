"""Count distinct ids per key and window: redeliveries of an at-least-once source count once.

Deduplication lives in the combiner (a set of ids per key and window) rather than in per-element user
state: combiner lifting pre-aggregates before the shuffle on every runner, merging (session) windows
merge their sets, and there is no per-record state access, which in Beam's Python SDK harness costs
about a millisecond (its state cache weighs every value it stores).

Panes are always accumulated by the runner (see `ApplyWindowing`), so each pane knows every id seen so
far and a redelivery in a later pane is still recognised. When the spec asks for discarding results,
each pane is turned into the delta since the previous pane of its window, which needs one small state
cell per key and window; a spec whose windows fire exactly once needs none.

Beside the counts, each pane reports what it added to the input's tally: `used` (distinct records) and
`duplicates` (redeliveries), as of the latest pane, so that for windows that hold each record once
`records_in = used + duplicates + dead letters + too late`.
"""
from __future__ import annotations

from typing import Iterable, Iterator, NamedTuple, Set, Tuple

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from kappa.transforms.tally import DUPLICATES, USED, Tally
from kappa.transforms.windowing import Accumulation, WindowSpec

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


def _has_inputs(keyed: Tuple[str, DistinctCount]) -> bool:
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

    def process(self, keyed: Tuple[str, DistinctCount]):
        key, result = keyed
        yield from _tallied(self._stream, result.distinct, result.seen)
        yield key, result.distinct


class _CountRepeatedPanes(beam.DoFn):
    """Windows that fire several times: remember the previous pane to count (and report) only what is new."""

    PREVIOUS = ReadModifyWriteStateSpec("previous", PickleCoder())

    def __init__(self, stream: str, discarding: bool) -> None:
        self._stream = stream
        self._discarding = discarding

    def process(self, keyed: Tuple[str, DistinctCount], previous=beam.DoFn.StateParam(PREVIOUS)):
        key, result = keyed
        before = previous.read() or DistinctCount(0, 0)
        previous.write(result)
        yield from _tallied(self._stream, result.distinct - before.distinct, result.seen - before.seen)
        yield key, (result.distinct - before.distinct if self._discarding else result.distinct)


class DistinctCounts(NamedTuple):
    counts: beam.PCollection  # (key, number of distinct ids) per pane
    tally: beam.PCollection  # Tally records of the stream


class DistinctCountPanes(beam.PTransform):
    """(key, DistinctCount) per pane of a `DistinctCountFn` aggregation of `stream` -> `DistinctCounts`:
    (key, number of distinct ids) per pane, as the spec's accumulation says, and the stream's tally."""

    def __init__(self, spec: WindowSpec, stream: str):
        super().__init__()
        self._spec = spec
        self._stream = stream

    def expand(self, totals):
        # Typed, so the state of `_CountRepeatedPanes` is keyed with a deterministic (string) coder.
        totals = totals | "DropEmptyPanes" >> beam.Filter(_has_inputs).with_output_types(Tuple[str, DistinctCount])
        if self._spec.fires_once:
            label, count = "FinalPane", _CountSinglePane(self._stream)
        else:
            discarding = self._spec.accumulation is Accumulation.DISCARDING
            label, count = "PaneByPane", _CountRepeatedPanes(self._stream, discarding)
        counted = totals | label >> beam.ParDo(count).with_outputs(TALLY_TAG, main="counts")
        return DistinctCounts(counts=counted.counts, tally=counted[TALLY_TAG])
