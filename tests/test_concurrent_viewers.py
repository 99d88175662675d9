"""concurrent-viewers: the scenarios of `viewers_scenarios.py` streamed (TestStream on the direct runner
and on embedded Flink) and run as a backfill, each pane, session and tally exact and the backfill equal
to the plain-Python reference (`tests/viewers_reference.py`); and whole runs of `kappa run
concurrent-viewers` on a generated archive: backfill on the direct runner and on Flink, replay, and a
stream through Kafka and a Flink session cluster, all giving the reference's final records."""
import dataclasses
import json
import random
import time
from typing import Any, Tuple

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Timestamp

from kappa.io import generate_viewers, writers
from kappa.io.contracts import epoch_ms
from kappa.io.replay import AddElements, ReplayStreams
from kappa.pipelines.concurrent_viewers import (PIPELINE, SESSIONS, FoldHeartbeats, OpenSessions, minute_windows,
                                                minutes_added)
from kappa.pipelines.model import MAIN_OUTPUT, TALLY
from kappa.runners import cli
from kappa.transforms.aggregation import Arrives
from tests import test_streaming as streaming
from tests import viewers_reference as reference
from tests.scenarios import as_final
from tests.test_event_time import RUNNERS
from tests.test_fraud_scoring import _summed
from tests.viewers_scenarios import SCENARIOS, Heartbeat

STREAMING = {name: RUNNERS[name] for name in ("direct", "flink")}


def _assert_outputs(outputs, results, sessions, tally):
    assert_that(outputs[MAIN_OUTPUT], equal_to(list(results)), label="Results")
    assert_that(outputs[SESSIONS], equal_to(list(sessions)), label="Sessions")
    assert_that(_summed(outputs[TALLY]), equal_to(sorted(tally.items())), label="Tally")


def _folded(steps):
    """The steps as a stream's reads hand them on: the heartbeats arriving together folded per viewer."""
    return tuple(AddElements(tuple((p.value, p.timestamp.micros // 1000) for p in FoldHeartbeats()(
        [beat for beat, _ in step.elements])), step.stream) if isinstance(step, AddElements) else step
        for step in steps)


@pytest.mark.parametrize("arrives", [Arrives.EVENTS, Arrives.PARTIALS], ids=["events", "folded"])
@pytest.mark.parametrize("runner", sorted(STREAMING))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_stream(scenario, runner, arrives, request):
    results = scenario.on_flink if runner == "flink" and scenario.on_flink else scenario.results
    folded = arrives is Arrives.PARTIALS
    with STREAMING[runner](request) as pipeline:
        streams = pipeline | ReplayStreams(_folded(scenario.steps) if folded else scenario.steps,
                                           {"heartbeats": Any if folded else Heartbeat})
        outputs = streams | PIPELINE.configured(spec=scenario.spec).transform({"heartbeats": arrives})
        _assert_outputs(outputs, results, scenario.sessions, scenario.tally())


def _heartbeats(scenario):
    return [beat for step in scenario.steps if isinstance(step, AddElements) for beat, _ in step.elements]


def _bounded_input(pipeline, beats, arrives):
    """The heartbeats as a backfill's reader hands them on: each event, or the partials of a split."""
    if arrives is Arrives.PARTIALS:
        partials = list(FoldHeartbeats()(beats[:3])) + list(FoldHeartbeats()(beats[3:]))
        return pipeline | beam.Create(partials).with_output_types(Tuple[Tuple[str, str], Any])
    return pipeline | beam.Create([
        window.TimestampedValue(beat, Timestamp(micros=beat.event_time * 1000)) for beat in beats
    ]).with_output_types(Heartbeat)


@pytest.mark.parametrize("arrives", [Arrives.EVENTS, Arrives.PARTIALS], ids=["windowed", "folded"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_bounded_gives_the_final_records_and_the_reference(scenario, arrives):
    """Both bounded plans: the windowed one on each event, and `ViewersOfArchive` on two splits' partials."""
    beats = _heartbeats(scenario)
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        streams = {"heartbeats": _bounded_input(pipeline, beats, arrives)}
        outputs = streams | PIPELINE.configured(spec=scenario.spec).for_backfill().transform({"heartbeats": arrives})
        _assert_outputs(outputs, scenario.finals(), scenario.sessions, scenario.tally())
    expected_sessions = reference.sessions([beat._asdict() for beat in beats], scenario.spec.size_ms)
    assert expected_sessions == {s["key"]: s for s in scenario.sessions}
    assert reference.minute_viewers(expected_sessions) == {r["key"]: r for r in scenario.finals()}


def test_every_flink_difference_says_why():
    for scenario in SCENARIOS:
        assert (scenario.on_flink is None) == (scenario.flink_why is None), scenario.name


@pytest.mark.parametrize("t, before, after, gap_s, added", [
    (0, None, None, 90, {0}),
    (59_999, None, None, 90, {0}),
    (60_000, None, None, 90, {60_000}),
    (-1, None, None, 90, {-60_000}),
    (60_000, -1, None, 90, {0, 60_000}),  # a bridge 60.001 s long, inside the gap
    (-1, None, 60_000, 90, {-60_000, 0}),  # the same bridge, its first heartbeat arriving last
    (60_000, -30_001, None, 90, {60_000}),  # 90.001 s: two sessions
    (60_000, -29_999, None, 90, {0, 60_000}),
    (60_000, -30_000, None, 90, {60_000}),  # exactly the gap
    (60_000, -1, None, 60, {60_000}),  # a gap of a minute bridges nothing
    (65_000, 0, 130_000, 90, {60_000}),  # merges two sessions over the minute between them
    (30_000, 0, 70_000, 90, set()),  # inside a bridge already counted
    (10_000, 5_000, None, 90, set()),  # in a minute already counted
])
def test_a_heartbeat_adds_its_minute_and_those_it_bridges_to_its_neighbours(t, before, after, gap_s, added):
    assert minutes_added(t, before, after, gap_s * 1000) == added


@pytest.mark.parametrize("gap_s", [30, 90, 150])
@pytest.mark.parametrize("seed", range(20))
def test_each_minute_of_a_viewer_is_added_once_whatever_the_arrival_order(seed, gap_s):
    """The facts `OpenSessions.arrive` emits as heartbeats (redeliveries among them) arrive in any order,
    alone or several at once (as a read folds them), are the reference's minutes of the sessions, each
    once, and each at a heartbeat in the span of its minute's window."""
    rng = random.Random(seed)
    times = [rng.randrange(0, 600_000, 5_000) for _ in range(rng.randrange(1, 12))]
    times += rng.sample(times, rng.randrange(len(times)))  # redeliveries
    rng.shuffle(times)
    logic, held, facts = OpenSessions(gap_s * 1000, 0), [], []
    while len(held) < len(times):
        entry = tuple(times[len(held):len(held) + rng.randrange(1, 4)])
        facts.extend(logic.arrive(("v1", "s1"), [(t,) for t in held], entry))
        held.extend(entry)
    sessions = reference.sessions([{"viewer_id": "v1", "show_id": "s1", "event_time": t} for t in times], gap_s * 1000)
    assert sorted(fact for _, fact in facts) == sorted(
        ("s1", r["window_start"]) for r in reference.minute_viewers(sessions).values())
    window = minute_windows(dataclasses.replace(PIPELINE.spec, size_ms=gap_s * 1000))
    reach = (window.size_ms - 60_000) // 2
    assert all(minute - reach <= t < minute + 60_000 + reach for t, (_, minute) in facts)


@pytest.mark.parametrize("gap_s, last_s, forgotten_s", [(90, 40, 40 + 90 + 120), (300, 40, 40 + 300 + 120),
                                                      (30, 20, 60 + 120)])  # a gap under a minute: its minute's end
def test_a_viewer_who_never_comes_back_is_forgotten_at_gap_and_lateness(gap_s, last_s, forgotten_s):
    """The keyed stage is the only one holding a viewer (minute windows hold counts): once its last
    heartbeat's point has passed, the session is written and nothing of the viewer is kept."""
    logic, key, held = OpenSessions(gap_s * 1000, 120_000), ("v1", "s1"), [(10_000,), (last_s * 1000,)]
    assert logic.points(held[-1]) == (forgotten_s * 1000,)
    waiting = logic.act(key, held, forgotten_s * 1000 - 1)  # not yet: a heartbeat may still extend it
    assert (waiting.outputs, waiting.kept, waiting.next_ms) == ([], None, forgotten_s * 1000)
    step = logic.act(key, held, forgotten_s * 1000)
    assert (step.kept, step.next_ms) == ([], None)
    assert [record["last"] for _, record in step.outputs] == [last_s * 1000]


@pytest.mark.parametrize("gap_s, size_s, offset_s", [(90, 120, 30), (60, 60, 0), (30, 60, 0), (300, 540, 0),
                                                     (150, 240, 30)])
def test_minute_windows_reach_a_bridge_either_side(gap_s, size_s, offset_s):
    spec = minute_windows(dataclasses.replace(PIPELINE.spec, size_ms=gap_s * 1000, allowed_lateness_ms=5_000))
    assert (spec.size_ms, spec.period_ms, spec.offset_ms, spec.allowed_lateness_ms) == (
        size_s * 1000, 60_000, offset_s * 1000, 5_000)


def _outputs(out):
    return ({r["key"]: r for r in writers.read_json_lines(str(out), MAIN_OUTPUT)},
            {r["key"]: r for r in writers.read_json_lines(str(out), SESSIONS)})


@pytest.mark.parametrize("runner", ["direct", "flink"])
def test_replay_sends_a_too_late_heartbeat_to_the_late_output(runner, tmp_path, request):
    """A heartbeat more than the lateness behind the replay's watermark is in `late`, in no session or
    minute, and counted as too late, whichever runner plays the TestStream."""
    if runner == "flink":
        request.getfixturevalue("flink_job_server")
    beats = [("v1", "s1", 0), ("v1", "s1", 30_000), ("v2", "s1", 400_000), ("v1", "s1", 60_000)]
    archive = tmp_path / "heartbeats.jsonl"
    archive.write_text("".join(json.dumps({"viewer_id": v, "show_id": s, "event_time": t}) + "\n" for v, s, t in beats))
    out = tmp_path / "out"
    assert cli.main(["run", "concurrent-viewers", "--input", str(archive), "--output", str(out), "--mode", "replay",
                     "--allowed-lateness", "5m", "--runner", runner]) == 0
    results, sessions = _outputs(out)
    kept = [{"viewer_id": v, "show_id": s, "event_time": t} for v, s, t in beats[:3]]
    assert sessions == reference.sessions(kept)
    assert {key: r["viewers"] for key, r in results.items()} == {
        key: r["viewers"] for key, r in reference.minute_viewers(reference.sessions(kept)).items()}
    [late] = writers.read_json_lines(str(out), writers.LATE)
    assert (late["stream"], late["record"], late["watermark"]) == (
        "heartbeats", {"viewer_id": "v1", "show_id": "s1", "event_time": 60_000}, 395_000)
    summary = json.loads((out / writers.SUMMARY).read_text())
    assert summary["streams"] == {"heartbeats": {"records_in": 4, "used": 3, "duplicates": 0, "dead_letters": 0,
                                                 "too_late": 1}}


def test_only_session_windows_configure_it(capsys):
    assert cli.main(["run", "concurrent-viewers", "--window-kind", "fixed", "--input", "x", "--output", "y"]) == 2
    assert capsys.readouterr().err == ("kappa: error: concurrent-viewers windows viewing sessions: set their gap "
                                       "with --gap, not --window-kind fixed\n")


ARCHIVE = generate_viewers.ViewersConfig(heartbeats=6_000, hours=2, seed=11, duplicate_rate=0.02, malformed=12)
SUMMARY_AS_RUN = ("runner", "mode", "input", "output", "elapsed_s", "events_per_s")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewers-archive")
    generate_viewers.write_viewers_archive(ARCHIVE, str(root), "jsonl")
    return root


def _run(archive, out, *flags):
    assert cli.main(["run", "concurrent-viewers", "--input", str(archive), "--output", str(out), *flags]) == 0
    results, sessions = _outputs(out)
    dead_letters = sorted(map(json.dumps, writers.read_json_lines(str(out), writers.DEAD_LETTERS)))
    summary = json.loads((out / writers.SUMMARY).read_text())
    return results, sessions, dead_letters, {k: v for k, v in summary.items() if k not in SUMMARY_AS_RUN}


@pytest.fixture(scope="module")
def backfill(archive, tmp_path_factory):
    return _run(archive, tmp_path_factory.mktemp("backfill"))


def test_backfill_equals_the_reference_and_reconciles(archive, backfill):
    results, sessions, dead_letters, summary = backfill
    expected_sessions = reference.sessions(reference.valid_heartbeats(sorted(archive.iterdir())))
    assert sessions == expected_sessions
    assert results == reference.minute_viewers(expected_sessions)
    assert len(dead_letters) == 12
    streams = summary["streams"]["heartbeats"]
    assert streams["used"] == sum(s["heartbeats"] for s in expected_sessions.values()) == 6_000 - 12  # malformed among them
    assert streams["records_in"] == streams["used"] + streams["duplicates"] + 12
    assert (streams["dead_letters"], streams["too_late"], summary["failed_check"]) == (12, 0, None)
    assert summary["outputs"] == {MAIN_OUTPUT: len(results), SESSIONS: len(sessions)}


def test_backfill_of_each_event_through_the_windows_equals_the_folded_one(archive, backfill, tmp_path):
    assert _run(archive, tmp_path / "per-element", "--per-element") == backfill


def test_backfill_on_flink_equals_the_direct_runner(archive, backfill, tmp_path, flink_job_server):
    assert _run(archive, tmp_path / "flink", "--runner", "flink", "--parallelism", "2") == backfill


def test_replay_with_enough_lateness_equals_the_backfill(archive, backfill, tmp_path):
    results, sessions, dead_letters, summary = _run(archive, tmp_path / "replay", "--mode", "replay",
                                                    "--runner", "flink", "--allowed-lateness", "10m")
    finals = {key: as_final(r) for key, r in results.items()}
    assert (finals, sessions, dead_letters) == backfill[:3]
    assert summary["streams"] == backfill[3]["streams"]


def test_stream_on_session_cluster_equals_the_backfill(archive, backfill, kafka_broker, flink_cluster):
    """Heartbeats produced to Kafka, sessions and minutes on a Flink session cluster: each minute's latest
    pane counts what the backfill counts, every session is the backfill's, malformed records are dead
    letters and none is late."""
    results, sessions, dead_letters, _ = backfill
    with streaming.on_session_cluster("concurrent-viewers", {"heartbeats": archive}, (MAIN_OUTPUT, SESSIONS),
                                      kafka_broker, flink_cluster) as topic:
        streamed_sessions = _latest(kafka_broker, topic[SESSIONS], len(sessions), timeout_s=240)
        streamed = _latest(kafka_broker, topic[MAIN_OUTPUT], len(results), timeout_s=60)
    assert streamed_sessions == sessions
    assert {key: r["viewers"] for key, r in streamed.items()} == {key: r["viewers"] for key, r in results.items()}
    streaming.assert_dead_letters_and_none_late(kafka_broker, topic, dead_letters)


_TIMES = ("first", "last", "window_start", "window_end")


def _latest(broker, topic: str, expected: int, timeout_s: float) -> dict:
    """key -> the latest record of the topic (timestamps as epoch ms, as the files have them), once it
    holds `expected` keys (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = {}
        for record in streaming.records(broker, topic):
            found[record["key"]] = {k: epoch_ms(v) if k in _TIMES else v for k, v in record.items()}
        if len(found) >= expected or time.monotonic() >= deadline:
            return found
        time.sleep(2)
