"""The replay plan: kappa decides what is too late, so every runner counts what a plain-Python
application of the replay rule counts; and the steps it sends give exactly the panes of the rule
applied record by record (watermark and processing time moved after every new highest event time) on
Beam's direct runner, folded or not, both as a TestStream on that runner (what Flink runs) and played
in process by `replay_panes` (what `--runner direct` runs)."""
import json
import random

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from kappa.io import writers
from kappa.io.dead_letter import DeadLetter
from kappa.io.orders import Order
from kappa.io.replay import (AddElements, AdvanceProcessingTime, AdvanceWatermark, ReplayInput, ReplayStream,
                             plan_replay)
from kappa.pipelines.orders_per_minute import ORDER_IDS_BY_REGION
from kappa.runners import cli
from kappa.runners.replay_panes import PanePlayer, PlayedPanes
from kappa.transforms.aggregation import Arrives, FoldEvents, grouping_of
from kappa.transforms.lateness import BehindWatermark, LateRecord, WindowExpiry
from kappa.transforms.tally import DEAD_LETTERS, RECORDS_IN, TOO_LATE
from kappa.transforms.windowing import Accumulation, WindowKind, WindowSpec
from tests.reference import replay_reference
from tests.scenarios import OrdersPerMinute

OUT_OF_ORDERNESS_MS = 2_000


def recorded_stream(seed: int, n: int = 150):
    """Orders of three regions over ~4 minutes, arriving up to 3 s late, a few 40-130 s late, some twice."""
    rng = random.Random(seed)
    arrivals = []
    for i in range(n):
        event_ms = i * 1_000 + rng.randrange(1_000)
        delay = rng.choice([0, 0, 0, 500, 1_500, 3_000]) if rng.random() > 0.04 else rng.randrange(40_000, 130_000)
        arrivals.append((event_ms + delay, Order(f"o{i}", rng.choice(["eu", "us", "ap"]), 1.0, event_ms)))
        if rng.random() < 0.03:
            arrivals.append((event_ms + delay + 2_000, Order(f"o{i}", arrivals[-1][1].region, 1.0, event_ms)))
    return [order for _, order in sorted(arrivals, key=lambda a: a[0])]


def plan_orders(events, spec, out_of_orderness_ms=OUT_OF_ORDERNESS_MS, folded=False):
    """The replay plan of one recorded input of orders, as `kappa run orders-per-minute --mode replay` makes it."""
    recorded = ReplayInput(parsed=events, event_time_ms=ORDER_IDS_BY_REGION.event_time_ms,
                           too_late=WindowExpiry(spec), fold=FoldEvents(ORDER_IDS_BY_REGION, spec) if folded else None,
                           key_of=lambda order: ORDER_IDS_BY_REGION.key_value(order)[0])
    return plan_replay({"orders": recorded}, out_of_orderness_ms, spec)


def record_by_record(events, out_of_orderness_ms):
    """The replay rule, every step sent, too-late records included (the runner drops them)."""
    steps, pending, max_seen = [], [], None
    for event in events:
        pending.append((event, event.event_time))
        if max_seen is not None and event.event_time <= max_seen:
            continue
        if max_seen is not None:
            steps += [AddElements(tuple(pending)), AdvanceProcessingTime(event.event_time - max_seen)]
            pending = []
        max_seen = event.event_time
        if pending:
            steps.append(AddElements(tuple(pending)))
            pending = []
        steps.append(AdvanceWatermark(max_seen - out_of_orderness_ms))
    if pending:
        steps.append(AddElements(tuple(pending)))
    return steps


_COLLECTED = []


def _collect(result):
    """A module's function, pickled by name: the runners here run in this process, so they append to
    this list, not to a copy of it."""
    _COLLECTED.append(result)


def _results_of(pipeline, results):
    _COLLECTED.clear()
    with pipeline:
        results | beam.Map(_collect)
    return sorted(tuple(sorted(r.items())) for r in _COLLECTED)


def panes_on_teststream(steps, spec, folded, stream=None):
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(runner=BundleBasedDirectRunner(), options=options)
    if folded:
        results = pipeline | ReplayStream(steps, stream=stream) | OrdersPerMinute(spec, Arrives.PARTIALS)
    else:
        results = pipeline | ReplayStream(steps, Order, stream) | OrdersPerMinute(spec)
    return _results_of(pipeline, results)


def panes_played(steps, spec, folded):
    panes = PanePlayer(spec, *grouping_of(ORDER_IDS_BY_REGION, folded)).play(steps)
    pipeline = beam.Pipeline(runner=FnApiRunner())
    return _results_of(pipeline, pipeline | PlayedPanes(panes) | OrdersPerMinute(spec, Arrives.PANES))


SPECS = {
    "early-10s-lateness-30s": WindowSpec(allowed_lateness_ms=30_000, early_firing_delay_ms=10_000),
    "early-5s-discarding": WindowSpec(allowed_lateness_ms=60_000, early_firing_delay_ms=5_000,
                                      accumulation=Accumulation.DISCARDING),
    "early-10s-no-lateness": WindowSpec(early_firing_delay_ms=10_000),
    "lateness-30s": WindowSpec(allowed_lateness_ms=30_000),
    "sliding-early-5s": WindowSpec(kind=WindowKind.SLIDING, size_ms=60_000, period_ms=20_000,
                                   allowed_lateness_ms=30_000, early_firing_delay_ms=5_000),
}


@pytest.mark.parametrize("folded", [False, True], ids=["per-element", "folded"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_plan_gives_the_panes_of_the_rule_record_by_record(name, folded):
    spec = SPECS[name]
    if folded and not ORDER_IDS_BY_REGION.can_pre_aggregate(spec):
        pytest.skip("only fixed windows are pre-aggregated")
    events = recorded_stream(seed=len(name))
    plan = plan_orders(events, spec, folded=folded)
    reference = panes_on_teststream(record_by_record(events, OUT_OF_ORDERNESS_MS), spec, folded=False)
    assert len(reference) >= 10
    assert panes_on_teststream(plan.steps, spec, folded, "orders") == reference
    assert panes_played(plan.steps, spec, folded) == reference
    assert len(plan.steps) < len(record_by_record(events, OUT_OF_ORDERNESS_MS))
    if spec.allowed_lateness_ms <= 30_000:
        assert plan.counts["orders"][TOO_LATE] > 0  # the stream has records later than that


def test_sessions_with_early_firings_play_the_direct_runners_panes():
    """Merging windows move timers between windows, so the plan sends every record's time. The direct
    runner's TestStream of sessions with early firings spins on its processing-time timers past a few
    dozen records (80 had not finished after minutes), so this stream is short."""
    spec = WindowSpec(kind=WindowKind.SESSION, size_ms=4_000, allowed_lateness_ms=30_000, early_firing_delay_ms=5_000)
    events = recorded_stream(seed=5, n=40)
    plan = plan_orders(events, spec)
    reference = panes_on_teststream(record_by_record(events, OUT_OF_ORDERNESS_MS), spec, folded=False)
    assert len(reference) >= 10
    assert panes_on_teststream(plan.steps, spec, False, "orders") == reference
    assert panes_played(plan.steps, spec, folded=False) == reference


def test_too_late_records_and_dead_letters_never_enter_the_stream():
    def order(order_id, seconds):
        return Order(order_id, "eu", 1.0, seconds * 1_000)

    broken = DeadLetter(record='{"order_id": "x"', error="bad JSON")
    stream = [order("a", 10), order("b", 70), broken, order("late", 50), order("c", 100), order("too-late", 5)]
    plan = plan_orders(stream, WindowSpec(allowed_lateness_ms=15_000), out_of_orderness_ms=0)
    sent = [value.order_id for step in plan.steps if isinstance(step, AddElements) for value, _ in step.elements]
    assert sent == ["a", "b", "late", "c"]
    assert plan.counts == {"orders": {RECORDS_IN: 6, DEAD_LETTERS: 1, TOO_LATE: 1}}
    assert plan.dead_letters == (broken._replace(stream="orders"),)
    # [0, 60 s) expired at 60 s + 15 s lateness: the watermark (100 s) is past it.
    assert plan.late == (LateRecord("orders", order("too-late", 5), 5_000, 100_000),)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """An hour of orders with stragglers (0.2% up to 3 minutes late), redeliveries and malformed lines."""
    root = tmp_path_factory.mktemp("recording")
    assert cli.main(["generate", "orders", "--output", str(root), "--format", "jsonl", "--events", "1500",
                     "--hours", "1", "--seed", "5"]) == 0
    return sorted(root.iterdir())


def replay_finals(paths, out, *flags):
    assert cli.main(["run", "orders-per-minute", "--input", str(paths[0].parent), "--output", str(out),
                     "--mode", "replay", "--allowed-lateness", "0s", "--max-out-of-orderness", "1s", *flags]) == 0
    finals = {}
    for result in writers.read_json_lines(str(out), writers.RESULTS):
        finals[result["key"]] = max(finals.get(result["key"], 0), result["count"])
    return finals, json.loads((out / "summary.json").read_text())


def test_every_runner_replays_the_same_counts_as_the_plain_python_rule(recording, tmp_path):
    expected, too_late = replay_reference(recording, allowed_lateness_ms=0, max_out_of_orderness_ms=1_000)
    assert too_late > 0
    direct = replay_finals(recording, tmp_path / "direct")
    flink = replay_finals(recording, tmp_path / "flink", "--runner", "flink")
    for finals, summary in (direct, flink):
        assert finals == expected
        assert summary["dropped_late"] == too_late
        assert summary["dead_letters"] == 25
        assert summary["records_in"] == (summary["counted"] + summary["duplicates"] + summary["dead_letters"]
                                         + summary["dropped_late"])
        assert summary["too_late"] == summary["dropped_late"]


def test_several_inputs_merge_by_smallest_event_time_ties_by_name_each_in_its_own_order():
    """Each input keeps its file order; the next record is the one with the smallest event time among
    the inputs' next records, ties going to the input whose name sorts first; one watermark for all."""
    def order(order_id, seconds):
        return Order(order_id, "eu", 1.0, seconds * 1_000)

    recorded = {
        "b": [order("b1", 10), order("b2", 5), order("b3", 30)],  # b2 stays behind b1: its input's order
        "a": [order("a1", 10), order("a2", 20), DeadLetter("x", "bad"), order("a3", 40)],
    }
    inputs = {name: ReplayInput(parsed=events, event_time_ms=ORDER_IDS_BY_REGION.event_time_ms,
                                too_late=BehindWatermark(0))
              for name, events in recorded.items()}
    plan = plan_replay(inputs, 0)
    arrivals = [(step.stream, [o.order_id for o, _ in step.elements]) if isinstance(step, AddElements)
                else step.to_ms // 1_000 for step in plan.steps]
    # b2 (5 s) arrives when the watermark is already at 10 s: behind it by more than no lateness.
    assert arrivals == [("a", ["a1"]), 10, ("b", ["b1"]), ("a", ["a2"]), 20, ("b", ["b3"]), 30, ("a", ["a3"]), 40]
    assert plan.late == (LateRecord("b", order("b2", 5), 5_000, 10_000),)
    assert plan.counts == {"a": {RECORDS_IN: 4, DEAD_LETTERS: 1, TOO_LATE: 0},
                           "b": {RECORDS_IN: 3, DEAD_LETTERS: 0, TOO_LATE: 1}}
