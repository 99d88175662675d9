"""The event-time scenarios, each asserting the exact panes, on every runner that executes TestStream."""
import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.testing.util import assert_that, equal_to

from kappa.io.orders import Order
from kappa.io.replay import ReplayStream
from kappa.pipelines.orders_per_minute import OrdersPerMinute
from kappa.runners.flink import FlinkOptions
from tests.scenarios import SCENARIOS


def _direct(request) -> beam.Pipeline:
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return beam.Pipeline(runner=BundleBasedDirectRunner(), options=options)


def _flink(request) -> beam.Pipeline:
    """Embedded Flink through one job server. Bundles of one element: Flink holds a stage's watermark
    until its bundle finishes, so a bigger bundle would let an element overtake the watermark before it."""
    server = request.getfixturevalue("flink_job_server")
    options = PipelineOptions(["--runner=PortableRunner", f"--job_endpoint={server.endpoint}",
                               "--environment_type=LOOPBACK", "--streaming", "--parallelism=1"])
    options.view_as(FlinkOptions).max_bundle_size = 1
    return beam.Pipeline(options=options)


RUNNERS = {"direct": _direct, "flink": _flink}


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_panes(scenario, runner, request):
    expected = scenario.expected
    if runner == "flink":
        if scenario.flink_skip:
            pytest.skip(scenario.flink_skip)
        expected = scenario.on_flink or expected
    with RUNNERS[runner](request) as pipeline:
        panes = pipeline | ReplayStream(scenario.steps, Order) | OrdersPerMinute(scenario.spec)
        assert_that(panes, equal_to(list(expected)))


def test_every_flink_difference_says_why():
    for scenario in SCENARIOS:
        assert (scenario.on_flink is None) == (scenario.flink_why is None), scenario.name
