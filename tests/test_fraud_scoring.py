"""fraud-scoring: the scenarios of `fraud_scenarios.py` streamed through the streaming plan (TestStream on
the direct runner and on embedded Flink) and their elements through the backfill's plan, each record
exact with its output timestamp and the tally exact; and whole runs of `kappa run fraud-scoring` on a
generated archive against the plain-Python reference (`tests/fraud_reference.py`)."""
import json
import time

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import Timestamp

from kappa.io import generate_fraud, writers
from kappa.io.contracts import epoch_ms
from kappa.io.replay import AddElements, ReplayStreams
from kappa.pipelines.fraud_scoring import PIPELINE
from kappa.pipelines.model import ALERTS, MAIN_OUTPUT, TALLY
from kappa.runners import cli
from tests import fraud_reference as reference
from tests import test_streaming as streaming
from tests.fraud_scenarios import SCENARIOS, Device, Payment
from tests.test_event_time import RUNNERS

STREAMING = {name: RUNNERS[name] for name in ("direct", "flink")}
TYPES = {"payments": Payment, "devices": Device}


def _stamped(value, timestamp=beam.DoFn.TimestampParam):
    return timestamp.micros // 1000, value


def _summed(tally):
    """The tally per (stream, measure), once the input is complete (as the runner sums it)."""
    return (tally
            | "WhenComplete" >> beam.WindowInto(window.GlobalWindows(), trigger=trigger.AfterWatermark(),
                                                accumulation_mode=trigger.AccumulationMode.DISCARDING)
            | "ByMeasure" >> beam.Map(lambda t: ((t.stream, t.measure), t.n))
            | "Sum" >> beam.CombinePerKey(sum))


def _assert_scored(outputs, expected_records, expected_tally, stamped):
    results = outputs[MAIN_OUTPUT]
    if stamped:
        results = results | "Stamped" >> beam.Map(_stamped)
    assert_that(results, equal_to(list(expected_records)), label="Results")
    alerts = [r for r in expected_records if (r[1] if stamped else r)["alert"]]
    assert_that(outputs[ALERTS] | "StampedAlerts" >> beam.Map(_stamped) if stamped else outputs[ALERTS],
                equal_to(alerts), label="Alerts")
    assert_that(_summed(outputs[TALLY]), equal_to(sorted(expected_tally.items())), label="Tally")


@pytest.mark.parametrize("runner", sorted(STREAMING))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_stream(scenario, runner, request):
    if runner == "flink" and scenario.not_on_flink:
        pytest.skip(scenario.not_on_flink)
    expected = scenario.expected
    with STREAMING[runner](request) as pipeline:
        streams = pipeline | ReplayStreams(scenario.steps, TYPES)
        outputs = streams | PIPELINE.configured(allowed_lateness_ms=scenario.lateness_ms).transform()
        _assert_scored(outputs, expected, scenario.tally(len(expected)), stamped=True)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_bounded(scenario):
    records = scenario.batch or tuple(record for _, record in scenario.expected)
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        streams = {
            stream: pipeline | f"Create{stream}" >> beam.Create([
                window.TimestampedValue(record, Timestamp(micros=event_ms * 1000))
                for step in scenario.steps if isinstance(step, AddElements) and step.stream == stream
                for record, event_ms in step.elements]).with_output_types(record_type)
            for stream, record_type in TYPES.items()}
        outputs = streams | PIPELINE.configured(allowed_lateness_ms=scenario.lateness_ms).for_backfill().transform()
        _assert_scored(outputs, records, scenario.tally(len(records)), stamped=False)


def test_every_difference_says_why():
    for scenario in SCENARIOS:
        assert (scenario.batch is None) == (scenario.batch_why is None), scenario.name


ARCHIVE = generate_fraud.FraudConfig(payments=3_000, hours=2, seed=11, duplicate_rate=0.02, malformed=12)
SMALL = generate_fraud.FraudConfig(payments=400, hours=1, seed=5, duplicate_rate=0.02, malformed=3)
SUMMARY_AS_RUN = ("runner", "mode", "input", "output", "elapsed_s", "events_per_s")


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("fraud-archives")
    for name, config in (("archive", ARCHIVE), ("small", SMALL)):
        generate_fraud.write_fraud_archive(config, str(root / name), "jsonl")
    return root


def _run(archive, out, *flags):
    assert cli.main(["run", "fraud-scoring", "--input", f"payments={archive / 'payments'}",
                     "--input", f"devices={archive / 'devices'}", "--output", str(out), *flags]) == 0
    results = {r["key"]: r for r in writers.read_json_lines(str(out), MAIN_OUTPUT)}
    alerts = {r["key"]: r for r in writers.read_json_lines(str(out), ALERTS)}
    assert alerts == {key: r for key, r in results.items() if r["alert"]}
    dead_letters = sorted(map(json.dumps, writers.read_json_lines(str(out), writers.DEAD_LETTERS)))
    summary = json.loads((out / writers.SUMMARY).read_text())
    return results, dead_letters, {k: v for k, v in summary.items() if k not in SUMMARY_AS_RUN}


def _reference(archive):
    return reference.score(reference.valid_payments(sorted((archive / "payments").iterdir())),
                           reference.valid_devices(sorted((archive / "devices").iterdir())))


@pytest.fixture(scope="module")
def backfill(archives, tmp_path_factory):
    return _run(archives / "archive", tmp_path_factory.mktemp("backfill"))


def test_backfill_equals_the_reference_and_reconciles(archives, backfill):
    results, dead_letters, summary = backfill
    assert results == _reference(archives / "archive")
    assert len(dead_letters) == 24 and {json.loads(d)["stream"] for d in dead_letters} == {"payments", "devices"}
    assert summary["streams"] == {
        "payments": {"records_in": 3_050, "used": 2_988, "duplicates": 50, "dead_letters": 12, "too_late": 0},
        "devices": {"records_in": 2_192, "used": 2_180, "duplicates": 0, "dead_letters": 12, "too_late": 0}}
    assert (summary["outputs"], summary["scored"], summary["alerts"], summary["failed_check"]) == (
        {"results": 2_988, "alerts": 97}, 2_988, 97, None)
    assert summary["per_reason"] == {"account_mismatch": 79, "amount_spike": 48, "country_mismatch": 173,
                                     "unknown_device": 143, "velocity": 44}


def test_backfill_on_flink_equals_the_direct_runner(archives, backfill, tmp_path, flink_job_server):
    assert _run(archives / "archive", tmp_path / "flink", "--runner", "flink", "--parallelism", "2") == backfill


def test_replay_equals_the_backfill(archives, tmp_path):
    """The stream plan, played: with 10 minutes of lateness no straggler is too late."""
    backfilled = _run(archives / "small", tmp_path / "batch")
    replayed = _run(archives / "small", tmp_path / "replay", "--mode", "replay", "--allowed-lateness", "10m")
    assert replayed[0] == backfilled[0] == _reference(archives / "small")
    assert replayed[1] == backfilled[1]
    assert replayed[2]["streams"] == backfilled[2]["streams"]
    assert replayed[2]["failed_check"] is None


def test_stream_on_session_cluster_equals_the_backfill(archives, backfill, kafka_broker, flink_cluster):
    """Both inputs produced to Kafka, scored on a Flink session cluster: every payment's record in
    `results` and `alerts` is the backfill's, each malformed record is a dead letter, none is late."""
    expected, dead_letters, _ = backfill
    inputs = {stream: archives / "archive" / stream for stream in ("payments", "devices")}
    with streaming.on_session_cluster("fraud-scoring", inputs, (MAIN_OUTPUT, ALERTS), kafka_broker,
                                      flink_cluster) as topic:
        results = _keyed_records(kafka_broker, topic[MAIN_OUTPUT], len(expected), timeout_s=240)
    assert results == expected
    assert _keyed_records(kafka_broker, topic[ALERTS], 0, 0) == {k: r for k, r in expected.items() if r["alert"]}
    streaming.assert_dead_letters_and_none_late(kafka_broker, topic, dead_letters)


def _keyed_records(broker, topic: str, expected: int, timeout_s: float) -> dict:
    """key -> record of the topic (its Avro timestamp as epoch ms, as the files have it), once it holds
    `expected` keys (or the time is up). The sink is at-least-once: a record written again after a
    restart is the same record under the same key."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = {}
        for record in streaming.records(broker, topic):
            record["event_time"] = epoch_ms(record["event_time"])
            assert found.setdefault(record["key"], record) == record
        if len(found) >= expected or time.monotonic() >= deadline:
            return found
        time.sleep(2)
