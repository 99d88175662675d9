"""live-sales: its event-time scenarios, each with the exact panes, on every runner that executes TestStream
and played in process as `--runner direct` replays, through both aggregation plans; and end to end through
the CLI on a generated archive against a plain-Python reference: batch on the direct runner and on Flink,
replay converging to the batch, and the late output of a replay without lateness."""
import dataclasses
import json

import pytest
from apache_beam.testing.util import assert_that, equal_to

from kappa.io import writers
from kappa.io.orders import Order
from kappa.io.replay import AddElements, ReplayStream
from kappa.pipelines.live_sales import DASHBOARD_MINUTE, PIPELINE, SALES_BY_REGION
from kappa.runners import cli
from kappa.runners.replay_panes import PanePlayer, PlayedPanes
from kappa.transforms.aggregation import Arrives, FoldEvents, grouping_of
from kappa.transforms.windowing import Accumulation, WindowSpec
from tests.reference import MINUTE, sales_reference, valid_orders
from tests.scenarios import (FLINK_CLOSING_PANE, FLINK_NO_PROCESSING_TIME, MainOutput, Scenario, expected_panes,
                             orders, processing_time, watermark)
from tests.test_event_time import RUNNERS


def sales(region, start_s, orders_, revenue, timing, is_last):
    start = round(start_s * 1000)
    return {"key": f"{region}:{start}", "region": region, "window_start": start, "window_end": start + 60_000,
            "orders": orders_, "revenue": revenue, "timing": timing, "is_last": is_last}


NO_EARLY = dataclasses.replace(DASHBOARD_MINUTE, early_firing_delay_ms=None)

SCENARIOS = (
    Scenario(
        "early_panes_accumulate_and_a_redelivery_adds_once",
        DASHBOARD_MINUTE,
        (orders(("eu", "o1", 1, 10.10)), watermark(1), processing_time(6),
         orders(("eu", "o2", 20, 5.55), ("eu", "o1", 1, 10.10)), processing_time(6), watermark(60),
         orders(("eu", "o3", 30, 0.01))),
        (sales("eu", 0, 1, 10.1, "EARLY", False), sales("eu", 0, 2, 15.65, "EARLY", False),
         sales("eu", 0, 2, 15.65, "ON_TIME", False), sales("eu", 0, 3, 15.66, "LATE", False)),
        flink_skip=FLINK_NO_PROCESSING_TIME,
    ),
    Scenario(
        "revenue_is_exact_to_the_cent",
        NO_EARLY,
        (orders(("eu", "o1", 1, 0.1), ("eu", "o2", 2, 0.2), ("us", "o3", 3, 1.005), ("us", "o4", 4, 2.675)),
         watermark(60)),
        (sales("eu", 0, 2, 0.3, "ON_TIME", False), sales("us", 0, 2, 3.68, "ON_TIME", False)),
        on_flink=(sales("eu", 0, 2, 0.3, "ON_TIME", False), sales("us", 0, 2, 3.68, "ON_TIME", False),
                  sales("eu", 0, 2, 0.3, "LATE", True), sales("us", 0, 2, 3.68, "LATE", True)),
        flink_why=FLINK_CLOSING_PANE,
    ),
    Scenario(
        "discarding_panes_are_deltas_of_orders_and_revenue",
        dataclasses.replace(NO_EARLY, accumulation=Accumulation.DISCARDING),
        (orders(("eu", "o1", 10, 20.0), ("eu", "o2", 11, 0.5)), watermark(70), orders(("eu", "o1", 10, 20.0)),
         watermark(80), orders(("eu", "o3", 30, 5.25))),
        (sales("eu", 0, 2, 20.5, "ON_TIME", False), sales("eu", 0, 0, 0.0, "LATE", False),
         sales("eu", 0, 1, 5.25, "LATE", False)),
        on_flink=(sales("eu", 0, 2, 20.5, "ON_TIME", False), sales("eu", 0, 0, 0.0, "LATE", False),
                  sales("eu", 0, 1, 5.25, "LATE", False), sales("eu", 0, 0, 0.0, "LATE", True)),
        flink_why=FLINK_CLOSING_PANE,
    ),
    Scenario(
        "one_final_pane_without_lateness",
        WindowSpec(),
        (orders(("eu", "o1", 59.999, 1.0), ("eu", "o2", 60, 2.0)), watermark(61), orders(("eu", "o3", 5, 4.0)),
         watermark(120)),
        (sales("eu", 0, 1, 1.0, "ON_TIME", True), sales("eu", 60, 1, 2.0, "ON_TIME", True)),
    ),
)


def _steps(scenario, folded):
    if not folded:
        return scenario.steps
    fold = FoldEvents(SALES_BY_REGION, scenario.spec)
    return [AddElements(tuple((p.value, p.timestamp.micros // 1000) for p in fold([o for o, _ in step.elements])))
            if isinstance(step, AddElements) else step for step in scenario.steps]


@pytest.mark.parametrize("plan", ["per-element", "pre-aggregated"])
@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_panes(scenario, runner, plan, request):
    expected = expected_panes(scenario, runner)
    folded = plan == "pre-aggregated"
    steps = _steps(scenario, folded)
    arrives = Arrives.PARTIALS if folded else Arrives.EVENTS
    with RUNNERS[runner](request) as pipeline:
        if runner == "played":
            panes = PanePlayer(scenario.spec, *grouping_of(SALES_BY_REGION, folded)).play(steps)
            results = pipeline | PlayedPanes(panes) | MainOutput(PIPELINE, scenario.spec, Arrives.PANES)
        else:
            results = pipeline | ReplayStream(steps, Order if not folded else None) | MainOutput(
                PIPELINE, scenario.spec, arrives)
        assert_that(results, equal_to(expected))


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("sales")
    assert cli.main(["generate", "orders", "--output", str(root / "in"), "--format", "jsonl", "--events", "6000",
                     "--hours", "1", "--seed", "21"]) == 0
    paths = sorted((root / "in").iterdir())
    return {"dir": root / "in", "paths": paths, "reference": sales_reference(paths)}


def run_sales(archive, out, *flags):
    assert cli.main(["run", "live-sales", "--input", str(archive["dir"]), "--output", str(out), *flags]) == 0
    return list(writers.read_json_lines(str(out), writers.RESULTS)), json.loads((out / "summary.json").read_text())


def finals(results):
    """The final value of each window: its pane with the most distinct orders (accumulating)."""
    best = {}
    for r in results:
        if r["key"] not in best or r["orders"] > best[r["key"]]["orders"]:
            best[r["key"]] = r
    return {key: {"orders": r["orders"], "revenue": r["revenue"]} for key, r in best.items()}


def reconciles(summary):
    figures = summary["streams"]["orders"]
    return figures["records_in"] == (figures["used"] + figures["duplicates"] + figures["dead_letters"]
                                     + figures["too_late"])


def test_batch_gives_each_window_its_final_value_once(archive, tmp_path):
    results, summary = run_sales(archive, tmp_path / "out")
    assert {r["key"]: {"orders": r["orders"], "revenue": r["revenue"]} for r in results} == archive["reference"]
    assert len(results) == len(archive["reference"])
    assert {(r["timing"], r["is_last"]) for r in results} == {("ON_TIME", True)}
    assert summary["orders"] == sum(v["orders"] for v in archive["reference"].values())
    assert summary["dead_letters"] == 25 and reconciles(summary)


def test_batch_on_flink_equals_batch_on_the_direct_runner(archive, tmp_path):
    direct, _ = run_sales(archive, tmp_path / "direct")
    flink, summary = run_sales(archive, tmp_path / "flink", "--runner", "flink")
    assert sorted(map(json.dumps, flink)) == sorted(map(json.dumps, direct)) and reconciles(summary)


def test_replay_shows_early_panes_and_converges_to_the_batch(archive, tmp_path):
    results, summary = run_sales(archive, tmp_path / "out", "--mode", "replay")
    assert finals(results) == archive["reference"]
    assert sum(r["timing"] == "EARLY" for r in results) > len(archive["reference"])  # the dashboard's view
    assert summary["too_late"] == 0 and reconciles(summary)


def test_a_replay_without_lateness_writes_its_too_late_orders_to_the_late_output(archive, tmp_path):
    out = tmp_path / "out"
    results, summary = run_sales(archive, out, "--mode", "replay", "--allowed-lateness", "0s",
                                 "--max-out-of-orderness", "1s")
    # The replay rule, applied to the valid orders in file order: too late once the watermark (the highest
    # event time before, less 1 s) is past the end of the order's minute.
    expected_late, highest = [], None
    for o in valid_orders(archive["paths"]):
        if highest is not None and highest - 1_000 > o["event_time"] // MINUTE * MINUTE + MINUTE:
            expected_late.append(o["order_id"])
            continue
        highest = o["event_time"] if highest is None else max(highest, o["event_time"])
    late = list(writers.read_json_lines(str(out), writers.LATE))
    # A shard's lines are grouped in parts before they are written: its order is not the replay's.
    assert sorted(r["record"]["order_id"] for r in late) == sorted(expected_late) and expected_late
    assert all(r["stream"] == "orders" and r["lateness_ms"] == r["watermark"] - r["event_time"] > 0 for r in late)
    assert summary["too_late"] == len(expected_late) and reconciles(summary)
