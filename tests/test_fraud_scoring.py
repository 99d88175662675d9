"""fraud-scoring: the scenarios of `fraud_scenarios.py` streamed through the streaming plan (TestStream on
the direct runner and on embedded Flink) and their elements through the backfill's plan, each record
exact with its output timestamp and the tally exact; and whole runs of `kappa run fraud-scoring` on a
generated archive against the plain-Python reference (`tests/fraud_reference.py`)."""
import json

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import Timestamp

from kappa.io.replay import AddElements, ReplayStreams
from kappa.pipelines.fraud_scoring import PIPELINE
from kappa.pipelines.model import ALERTS, MAIN_OUTPUT, TALLY
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
    expected = (runner == "flink" and scenario.on_flink) or scenario.expected
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
        assert (scenario.on_flink is None) == (scenario.flink_why is None), scenario.name
