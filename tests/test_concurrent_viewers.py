"""concurrent-viewers: the scenarios of `viewers_scenarios.py` streamed (TestStream on the direct runner
and on embedded Flink) and run as a backfill, each pane, session and tally exact and the backfill equal
to the plain-Python reference (`tests/viewers_reference.py`); and whole runs of `kappa run
concurrent-viewers` on a generated archive: backfill on the direct runner and on Flink, replay, and a
stream through Kafka and a Flink session cluster, all giving the reference's final records."""
import dataclasses

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Timestamp

from kappa.io.replay import AddElements, ReplayStreams
from kappa.pipelines.concurrent_viewers import PIPELINE, SESSIONS, covers_minute, minute_windows
from kappa.pipelines.model import MAIN_OUTPUT, TALLY
from tests import viewers_reference as reference
from tests.test_event_time import RUNNERS
from tests.test_fraud_scoring import _summed
from tests.viewers_scenarios import SCENARIOS, Heartbeat

STREAMING = {name: RUNNERS[name] for name in ("direct", "flink")}


def _assert_outputs(outputs, results, sessions, tally):
    assert_that(outputs[MAIN_OUTPUT], equal_to(list(results)), label="Results")
    assert_that(outputs[SESSIONS], equal_to(list(sessions)), label="Sessions")
    assert_that(_summed(outputs[TALLY]), equal_to(sorted(tally.items())), label="Tally")


@pytest.mark.parametrize("runner", sorted(STREAMING))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_stream(scenario, runner, request):
    if runner == "direct" and scenario.direct_skip:
        pytest.skip(scenario.direct_skip)
    results = scenario.on_flink if runner == "flink" and scenario.on_flink else scenario.results
    with STREAMING[runner](request) as pipeline:
        streams = pipeline | ReplayStreams(scenario.steps, {"heartbeats": Heartbeat})
        outputs = streams | PIPELINE.configured(spec=scenario.spec).transform()
        _assert_outputs(outputs, results, scenario.sessions, scenario.tally())


def _heartbeats(scenario):
    return [beat for step in scenario.steps if isinstance(step, AddElements) for beat, _ in step.elements]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_bounded_gives_the_final_records_and_the_reference(scenario):
    beats = _heartbeats(scenario)
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        streams = {"heartbeats": pipeline | beam.Create([
            window.TimestampedValue(beat, Timestamp(micros=beat.event_time * 1000)) for beat in beats
        ]).with_output_types(Heartbeat)}
        outputs = streams | PIPELINE.configured(spec=scenario.spec).for_backfill().transform()
        _assert_outputs(outputs, scenario.finals(), scenario.sessions, scenario.tally())
    expected_sessions = reference.sessions([beat._asdict() for beat in beats], scenario.spec.size_ms)
    assert expected_sessions == {s["key"]: s for s in scenario.sessions}
    assert reference.minute_viewers(expected_sessions) == {r["key"]: r for r in scenario.finals()}


def test_every_flink_difference_says_why():
    for scenario in SCENARIOS:
        assert (scenario.on_flink is None) == (scenario.flink_why is None), scenario.name


@pytest.mark.parametrize("times, minute_s, gap_s, covered", [
    ((), 0, 90, False),
    ((0,), 0, 90, True),
    ((59_999,), 0, 90, True),
    ((60_000,), 0, 90, False),
    ((-1,), 0, 90, False),
    ((-1, 60_000), 0, 90, True),  # a bridge 60.001 s long, inside the gap
    ((-30_001, 60_000), 0, 90, False),  # 90.001 s: two sessions
    ((-29_999, 60_000), 0, 90, True),
    ((-30_000, 60_000), 0, 90, False),  # exactly the gap
    ((-1, 60_000), 0, 60, False),  # a gap of a minute bridges nothing
])
def test_a_minute_is_covered_by_a_heartbeat_in_it_or_a_bridge_shorter_than_the_gap(times, minute_s, gap_s, covered):
    assert covers_minute(times, minute_s * 1000, gap_s * 1000) is covered


@pytest.mark.parametrize("gap_s, size_s, offset_s", [(90, 120, 30), (60, 60, 0), (30, 60, 0), (300, 540, 0),
                                                     (150, 240, 30)])
def test_minute_windows_reach_a_bridge_either_side(gap_s, size_s, offset_s):
    spec = minute_windows(dataclasses.replace(PIPELINE.spec, size_ms=gap_s * 1000, allowed_lateness_ms=5_000))
    assert (spec.size_ms, spec.period_ms, spec.offset_ms, spec.allowed_lateness_ms) == (
        size_s * 1000, 60_000, offset_s * 1000, 5_000)
