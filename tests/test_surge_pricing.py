"""surge-pricing: the scenarios of `surge_scenarios.py` streamed (TestStream on the direct runner and on
embedded Flink) and run as a backfill, each pane exact and the backfill equal to the plain-Python
reference (`tests/surge_reference.py`); the join's checks; and whole runs of `kappa run surge-pricing`
on a generated archive: backfill on the direct runner and on Flink, replay, and a stream through Kafka
and a Flink session cluster, all giving the reference's final records."""
import json
from typing import Any, Tuple

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Timestamp

from kappa.io import generate_surge, writers
from kappa.io.replay import AddElements, ReplayStreams
from kappa.pipelines.model import MAIN_OUTPUT
from kappa.pipelines.surge_pricing import PIPELINE
from kappa.runners import cli
from kappa.transforms.aggregation import Arrives
from kappa.transforms.distinct_count import DistinctCountFn
from kappa.transforms.window_join import WindowJoin
from tests import surge_reference as reference
from tests import test_streaming as streaming
from tests.surge_scenarios import SCENARIOS, Location, Request
from tests.scenarios import as_final
from tests.test_event_time import RUNNERS

STREAMING = {name: RUNNERS[name] for name in ("direct", "flink")}
TYPES = {"requests": Request, "drivers": Location}


@pytest.mark.parametrize("runner", sorted(STREAMING))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_stream(scenario, runner, request):
    expected = scenario.on_flink if runner == "flink" and scenario.on_flink else scenario.results
    with STREAMING[runner](request) as pipeline:
        outputs = pipeline | ReplayStreams(scenario.steps, TYPES) | PIPELINE.configured(spec=scenario.spec).transform()
        assert_that(outputs[MAIN_OUTPUT], equal_to(list(expected)))


def _events(scenario, stream):
    return [event for step in scenario.steps if isinstance(step, AddElements) and step.stream == stream
            for event, _ in step.elements]


def _bounded_input(pipeline, scenario, stream, arrives):
    """A side as a backfill's reader hands it on: each event, or the partials of two splits."""
    events = _events(scenario, stream)
    if arrives is Arrives.PARTIALS:
        fold = PIPELINE.configured(spec=scenario.spec).for_backfill().fold(stream)
        partials = list(fold(events[:2])) + list(fold(events[2:]))
        return pipeline | f"Create{stream}" >> beam.Create(partials).with_output_types(Tuple[str, Any])
    return pipeline | f"Create{stream}" >> beam.Create([
        window.TimestampedValue(event, Timestamp(micros=event.event_time * 1000))
        for event in events]).with_output_types(TYPES[stream])


@pytest.mark.parametrize("arrives", [Arrives.EVENTS, Arrives.PARTIALS], ids=["windowed", "folded"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_bounded_gives_the_final_records_and_the_reference(scenario, arrives):
    """Both bounded plans: the windowed join of each event, and `SurgeOfArchive` on two splits' partials."""
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        streams = {stream: _bounded_input(pipeline, scenario, stream, arrives) for stream in TYPES}
        backfill = PIPELINE.configured(spec=scenario.spec).for_backfill()
        outputs = streams | backfill.transform({stream: arrives for stream in TYPES})
        assert_that(outputs[MAIN_OUTPUT], equal_to(list(scenario.finals())))
    expected = reference.surge([r._asdict() for r in _events(scenario, "requests")],
                               [d._asdict() for d in _events(scenario, "drivers")])
    assert expected == {r["key"]: r for r in scenario.finals()}


def _keyed(pipeline, label, key_type):
    return pipeline | label >> beam.Create([]).with_output_types(beam.typehints.Tuple[key_type, str])


def test_the_join_refuses_a_side_windowed_on_its_own_or_keyed_by_another_type():
    def join():
        return WindowJoin(PIPELINE.spec, {"a": DistinctCountFn(), "b": DistinctCountFn()})
    with pytest.raises(TypeError, match=r"^WindowJoin side 'b' is windowed by FixedWindows: leave it unwindowed, the join "
                                        r"windows every side by its sliding 5m, every 1m, lateness 0ms, accumulating$"):
        pipeline = beam.Pipeline(runner=FnApiRunner())
        {"a": _keyed(pipeline, "A", str),
         "b": _keyed(pipeline, "B", str) | beam.WindowInto(window.FixedWindows(300))} | join()
    with pytest.raises(TypeError, match=r"^WindowJoin sides are keyed by different types: a by str, b by int$"):
        pipeline = beam.Pipeline(runner=FnApiRunner())
        {"a": _keyed(pipeline, "A", str), "b": _keyed(pipeline, "B", int)} | join()
    with pytest.raises(TypeError, match=r"^WindowJoin: sides \['a'\] but combiners for \['a', 'b'\]$"):
        {"a": _keyed(beam.Pipeline(runner=FnApiRunner()), "A", str)} | join()



# An evening hour, when demand outgrows supply downtown: the floor, the cap and values between occur.
ARCHIVE = generate_surge.SurgeConfig(events=8_000, hours=1, seed=11, duplicate_rate=0.02, malformed=6,
                                     start_ms=generate_surge.SurgeConfig().start_ms + 18 * 3_600_000)
SUMMARY_AS_RUN = ("runner", "mode", "input", "output", "elapsed_s", "events_per_s")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("surge-archive")
    generate_surge.write_surge_archive(ARCHIVE, str(root), "jsonl")
    return root


def _run(archive, out, *flags):
    assert cli.main(["run", "surge-pricing", "--input", f"requests={archive / 'requests'}",
                     "--input", f"drivers={archive / 'drivers'}", "--output", str(out), *flags]) == 0
    results = {r["key"]: r for r in writers.read_json_lines(str(out), MAIN_OUTPUT)}
    dead_letters = sorted(map(json.dumps, writers.read_json_lines(str(out), writers.DEAD_LETTERS)))
    summary = json.loads((out / writers.SUMMARY).read_text())
    return results, dead_letters, {k: v for k, v in summary.items() if k not in SUMMARY_AS_RUN}


@pytest.fixture(scope="module")
def backfill(archive, tmp_path_factory):
    return _run(archive, tmp_path_factory.mktemp("backfill"))


def test_backfill_equals_the_reference(archive, backfill):
    results, dead_letters, summary = backfill
    assert results == reference.surge(reference.valid_requests(sorted((archive / "requests").iterdir())),
                                      reference.valid_locations(sorted((archive / "drivers").iterdir())))
    assert {10, 30} < {r["multiplier_tenths"] for r in results.values()}
    assert any(10 < r["multiplier_tenths"] < 30 for r in results.values())
    assert len(dead_letters) == 12 and {json.loads(d)["stream"] for d in dead_letters} == {"requests", "drivers"}
    assert {stream: (counts["dead_letters"], counts["too_late"]) for stream, counts in summary["streams"].items()} == {
        "requests": (6, 0), "drivers": (6, 0)}
    assert (summary["outputs"], summary["failed_check"]) == ({MAIN_OUTPUT: len(results)}, None)


def test_backfill_of_each_event_through_the_windowed_join_equals_the_folded_one(archive, backfill, tmp_path):
    assert _run(archive, tmp_path / "per-element", "--per-element") == backfill


def test_backfill_on_flink_equals_the_direct_runner(archive, backfill, tmp_path, flink_job_server):
    assert _run(archive, tmp_path / "flink", "--runner", "flink", "--parallelism", "2") == backfill


def test_replay_with_enough_lateness_equals_the_backfill(archive, backfill, tmp_path):
    results, dead_letters, summary = _run(archive, tmp_path / "replay", "--mode", "replay", "--runner", "flink",
                                          "--allowed-lateness", "10m")
    finals = {key: as_final(r) for key, r in results.items()}
    assert (finals, dead_letters, summary["streams"]) == (backfill[0], backfill[1], backfill[2]["streams"])


def test_stream_on_session_cluster_equals_the_backfill(archive, backfill, kafka_broker, flink_cluster):
    """Both inputs produced to Kafka, joined on a Flink session cluster: each window's latest pane is the
    backfill's, malformed records are dead letters and none is late."""
    results, dead_letters, _ = backfill
    inputs = {stream: archive / stream for stream in ("requests", "drivers")}
    with streaming.on_session_cluster("surge-pricing", inputs, (MAIN_OUTPUT,), kafka_broker, flink_cluster) as topic:
        streamed = streaming.closing_panes(kafka_broker, topic[MAIN_OUTPUT], len(results), timeout_s=240,
                                           value=_surge_of)
    assert streamed == {key: _surge_of(r) for key, r in results.items()}
    streaming.assert_dead_letters_and_none_late(kafka_broker, topic, dead_letters)


def _surge_of(record):
    return record["demand"], record["supply"], record["multiplier_tenths"]
