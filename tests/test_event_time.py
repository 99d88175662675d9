"""The event-time scenarios, each asserting the exact panes, on every runner that executes TestStream."""
import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.testing.util import assert_that, equal_to

from kappa.io.orders import Order
from kappa.io.replay import ReplayStream
from kappa.pipelines.orders_per_minute import OrdersPerMinute
from tests.scenarios import SCENARIOS

RUNNERS = {"direct": BundleBasedDirectRunner}


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_panes(scenario, runner):
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(runner=RUNNERS[runner](), options=options) as pipeline:
        panes = pipeline | ReplayStream(scenario.steps, Order) | OrdersPerMinute(scenario.spec)
        assert_that(panes, equal_to(list(scenario.expected)))
