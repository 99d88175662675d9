"""IntervalJoin and Deduplicate: the scenarios of `keyed_state_scenarios.py` as streams (TestStream on the
direct runner and on embedded Flink) and their elements as bounded inputs (FnApiRunner, Flink batch),
each asserting every output and its timestamp; and the checks made when a pipeline is built."""
from typing import Any, NamedTuple

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Duration, Timestamp
from apache_beam.utils.windowed_value import PaneInfoTiming

from kappa.io.replay import AddElements, ReplayStream
from kappa.services import worker_pool
from kappa.transforms.dedup import Deduplicate
from kappa.transforms.interval_join import Interval, IntervalJoin
from tests.keyed_state_scenarios import DEDUPS, JOINS, TEN_S, Dev, JoinScenario, Pay, arrive, dev, pay, watermark
from tests.test_event_time import RUNNERS as STREAM_RUNNERS


def _flink_batch(request) -> beam.Pipeline:
    server = request.getfixturevalue("flink_job_server")
    pool, _ = worker_pool.in_process()
    return beam.Pipeline(options=PipelineOptions([
        "--runner=PortableRunner", f"--job_endpoint={server.endpoint}", "--environment_type=EXTERNAL",
        f"--environment_config={pool}", "--parallelism=1"]))


STREAMING = {name: STREAM_RUNNERS[name] for name in ("direct", "flink")}
BOUNDED = {"fn-api": lambda request: beam.Pipeline(runner=FnApiRunner()), "flink-batch": _flink_batch}


def _stream(pipeline, steps):
    return pipeline | ReplayStream(steps)


def _bounded(pipeline, steps):
    return pipeline | beam.Create([window.TimestampedValue(record, Timestamp(micros=event_ms * 1000))
                                   for step in steps if isinstance(step, AddElements)
                                   for record, event_ms in step.elements])


def _stamped(value, timestamp=beam.DoFn.TimestampParam):
    return timestamp.micros // 1000, value


def _pays(records):
    return records | "Pays" >> beam.Filter(lambda r: isinstance(r, Pay)).with_output_types(Pay)


def _joined(records, scenario):
    pays = _pays(records)
    devs = pays if scenario.self_join else (
        records | "Devs" >> beam.Filter(lambda r: isinstance(r, Dev)).with_output_types(Dev))
    join = IntervalJoin("device_id", scenario.interval, outer=scenario.outer, lateness_ms=scenario.lateness_ms)
    return {"left": pays, "right": devs} | join | "Stamped" >> beam.Map(_stamped)


def _assert_deduplicated(records, scenario):
    result = _pays(records) | Deduplicate("payment_id", scenario.retention_ms)
    assert_that(result.unique | "StampUnique" >> beam.Map(_stamped), equal_to(list(scenario.unique)),
                label="Unique")
    assert_that(result.duplicates | "StampDuplicates" >> beam.Map(_stamped), equal_to(list(scenario.duplicates)),
                label="Duplicates")


@pytest.mark.parametrize("runner", sorted(STREAMING))
@pytest.mark.parametrize("scenario", JOINS, ids=[s.name for s in JOINS])
def test_join_stream(scenario, runner, request):
    with STREAMING[runner](request) as pipeline:
        assert_that(_joined(_stream(pipeline, scenario.steps), scenario), equal_to(list(scenario.expected)))


@pytest.mark.parametrize("runner", sorted(BOUNDED))
@pytest.mark.parametrize("scenario", JOINS, ids=[s.name for s in JOINS])
def test_join_bounded(scenario, runner, request):
    with BOUNDED[runner](request) as pipeline:
        assert_that(_joined(_bounded(pipeline, scenario.steps), scenario),
                    equal_to(list(scenario.batch or scenario.expected)))


@pytest.mark.parametrize("runner", sorted(STREAMING))
@pytest.mark.parametrize("scenario", DEDUPS, ids=[s.name for s in DEDUPS])
def test_dedup_stream(scenario, runner, request):
    with STREAMING[runner](request) as pipeline:
        _assert_deduplicated(_stream(pipeline, scenario.steps), scenario)


@pytest.mark.parametrize("runner", sorted(BOUNDED))
@pytest.mark.parametrize("scenario", DEDUPS, ids=[s.name for s in DEDUPS])
def test_dedup_bounded(scenario, runner, request):
    if scenario.batch_skip:
        pytest.skip(scenario.batch_skip)
    with BOUNDED[runner](request) as pipeline:
        _assert_deduplicated(_bounded(pipeline, scenario.steps), scenario)


# One watermark step passes the windows the join's outputs fall in, before the join's timers fire.
DOWNSTREAM_STEPS = (arrive(pay("p1", "d1", 20), dev("d1", "a", 15), pay("p2", "d2", 21)), watermark(100),
                    arrive(pay("p3", "d1", 200)), watermark(300))
# Flink holds the join's output watermark at each pending timer, so its outputs are on time in the next
# windowing; Beam Python's direct runner holds no watermark for user timers, so that windowing drops them.
DOWNSTREAM_PANES = {
    "flink": [("d1", 20_000, 1, "ON_TIME"), ("d2", 20_000, 1, "ON_TIME"), ("d1", 200_000, 1, "ON_TIME")],
    "direct": [],
}


class _Pane(beam.DoFn):
    def process(self, counted, win=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
        yield counted[0], win.start.micros // 1000, counted[1], PaneInfoTiming.to_string(pane.timing)


@pytest.mark.parametrize("runner", sorted(STREAMING))
def test_join_outputs_in_a_downstream_window(runner, request):
    scenario = JoinScenario("downstream_window", TEN_S, DOWNSTREAM_STEPS, expected=())
    with STREAMING[runner](request) as pipeline:
        panes = (_joined(_stream(pipeline, DOWNSTREAM_STEPS), scenario)
                 | "Values" >> beam.Map(lambda stamped: stamped[1])
                 | beam.WindowInto(window.FixedWindows(10), allowed_lateness=Duration(0))
                 | "ByDevice" >> beam.Map(lambda joined: (joined.left.device_id, 1))
                 | beam.CombinePerKey(sum)
                 | beam.ParDo(_Pane()))
        assert_that(panes, equal_to(DOWNSTREAM_PANES[runner]))


def test_every_bounded_difference_says_why():
    for scenario in JOINS:
        assert (scenario.batch is None) == (scenario.batch_why is None), scenario.name


class DevById(NamedTuple):
    device_id: int
    event_time: int


class Login(NamedTuple):
    login_id: str
    event_time: int


class AnyKey(NamedTuple):
    device_id: Any
    event_time: int


class Untimed(NamedTuple):
    device_id: str
    at: int


def _build_error(transform, **inputs) -> str:
    pipeline = beam.Pipeline()
    pcolls = {name: pipeline | name >> beam.Create([]).with_output_types(element_type)
              for name, element_type in inputs.items()}
    with pytest.raises(TypeError) as raised:
        _ = (pcolls if len(pcolls) > 1 else next(iter(pcolls.values()))) | transform
    return str(raised.value)


@pytest.mark.parametrize("inputs, message", [
    ({"left": Pay, "right": Login},
     "IntervalJoin on 'device_id': the right input has record type Login with no field 'device_id'"),
    ({"left": Pay, "right": DevById},
     "IntervalJoin on 'device_id': the key types differ: left Pay.device_id is str, right DevById.device_id is int"),
    ({"left": Pay, "right": Any},
     "IntervalJoin on 'device_id': the right input is untyped (element type Any): cannot check the join key"),
    ({"left": int, "right": Dev},
     "IntervalJoin on 'device_id': the left input has element type int, not a NamedTuple record type"),
    ({"left": Pay, "right": Untimed},
     "IntervalJoin on 'device_id': the right input has record type Untimed with no field 'event_time'"),
    ({"left": Pay, "rights": Dev},
     "IntervalJoin on 'device_id' takes {'left': ..., 'right': ...}, got ['left', 'rights']"),
    ({"left": AnyKey, "right": AnyKey},
     "IntervalJoin on 'device_id': key type Any has no deterministic coder"),
], ids=["other-key-field", "other-key-type", "untyped", "not-a-record", "no-event-time", "misnamed-input",
        "nondeterministic-key"])
def test_join_inputs_are_checked_when_built(inputs, message):
    assert _build_error(IntervalJoin("device_id", TEN_S), **inputs) == message


def test_dedup_input_is_checked_when_built():
    assert _build_error(Deduplicate("payment_id", 1_000), records=Dev) == (
        "Deduplicate by 'payment_id': the input has record type Dev with no field 'payment_id'")
    assert _build_error(Deduplicate("payment_id", 1_000), records=Any) == (
        "Deduplicate by 'payment_id': the input is untyped (element type Any): cannot check the id field")


def test_windowed_input_is_refused_when_built():
    pipeline = beam.Pipeline()
    pays = pipeline | beam.Create([]).with_output_types(Pay) | beam.WindowInto(window.FixedWindows(60))
    with pytest.raises(TypeError) as raised:
        _ = pays | Deduplicate("payment_id", 1_000)
    assert str(raised.value) == (
        "Deduplicate by 'payment_id': the input is windowed (FixedWindows): it must be in the global window "
        "(window after this transform)")


def test_self_join_is_one_input_twice():
    pipeline = beam.Pipeline()
    pays = pipeline | beam.Create([pay("p1", "d1", 1)]).with_output_types(Pay)
    assert ({"left": pays, "right": pays} | IntervalJoin("device_id", TEN_S)).element_type.__name__ == "Joined"


@pytest.mark.parametrize("interval, text", [
    (Interval(86_400_000, -1), "[t - 1d, t)"),
    (Interval(59_999, 0), "(t - 1m, t]"),
    (Interval(10_000, 2_000), "[t - 10s, t + 2s]"),
    (Interval(0, 0), "[t, t]"),
    (Interval(1_500, 250), "[t - 1500ms, t + 250ms]"),
    (Interval(-1_000, 4_999), "[t + 1s, t + 5s)"),
])
def test_interval_describes_itself(interval, text):
    assert interval.describe() == text


def test_join_describes_itself():
    assert IntervalJoin("device_id", Interval(86_400_000, -1), outer=True, lateness_ms=600_000).describe() == (
        "left outer interval join on device_id: rights in [t - 1d, t) of the left's event time t, lateness 10m")


def test_interval_is_checked_when_declared():
    with pytest.raises(ValueError, match=r"^Interval is empty: after_ms -6 is below -before_ms -5$"):
        Interval(5, -6)
    with pytest.raises(TypeError, match=r"^Interval before_ms must be an int \(ms\), got 1.5$"):
        Interval(1.5, 0)
