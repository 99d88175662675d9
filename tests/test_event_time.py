"""The event-time scenarios, each asserting the exact panes, on every runner that executes TestStream,
and played in process the way `--runner direct` replays (`kappa.runners.replay_panes`), through both
aggregation plans: per element, and pre-aggregated, where each arrival of orders (one TestStream step,
as one read of a Kafka partition) comes folded into partials."""
import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from kappa.io.orders import Order
from kappa.io.replay import AddElements, ReplayStream
from kappa.pipelines.orders_per_minute import ORDER_IDS_BY_REGION
from kappa.transforms.aggregation import Arrives, FoldEvents, grouping_of
from kappa.runners.flink import FlinkOptions
from kappa.runners.replay_panes import PanePlayer, PlayedPanes
from kappa.services import worker_pool
from tests.scenarios import SCENARIOS, OrdersPerMinute, expected_panes


def _direct(request) -> beam.Pipeline:
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return beam.Pipeline(runner=BundleBasedDirectRunner(), options=options)


def _flink(request) -> beam.Pipeline:
    """Embedded Flink through one job server. Bundles of one element: Flink holds a stage's watermark
    until its bundle finishes, so a bigger bundle would let an element overtake the watermark before it."""
    server = request.getfixturevalue("flink_job_server")
    pool, _ = worker_pool.in_process()  # Beam's LOOPBACK, on loopback
    options = PipelineOptions(["--runner=PortableRunner", f"--job_endpoint={server.endpoint}",
                               "--environment_type=EXTERNAL", f"--environment_config={pool}", "--streaming",
                               "--parallelism=1"])
    options.view_as(FlinkOptions).max_bundle_size = 1
    return beam.Pipeline(options=options)


def _played(request) -> beam.Pipeline:
    """The rest of the pipeline, after the grouping played in process, as a replay runs it."""
    return beam.Pipeline(runner=FnApiRunner())


RUNNERS = {"direct": _direct, "flink": _flink, "played": _played}


def _folded(scenario):
    fold = FoldEvents(ORDER_IDS_BY_REGION, scenario.spec)
    return [AddElements(tuple((p.value, p.timestamp.micros // 1000) for p in fold([o for o, _ in step.elements])))
            if isinstance(step, AddElements) else step for step in scenario.steps]


def _per_element(pipeline, scenario, played):
    if played:
        return _played_panes(pipeline, scenario, scenario.steps, pre_aggregated=False)
    return pipeline | ReplayStream(scenario.steps, Order) | OrdersPerMinute(scenario.spec)


def _pre_aggregated(pipeline, scenario, played):
    if played:
        return _played_panes(pipeline, scenario, _folded(scenario), pre_aggregated=True)
    return pipeline | ReplayStream(_folded(scenario)) | OrdersPerMinute(scenario.spec, Arrives.PARTIALS)


def _played_panes(pipeline, scenario, steps, pre_aggregated):
    player = PanePlayer(scenario.spec, *grouping_of(ORDER_IDS_BY_REGION, pre_aggregated))
    return pipeline | PlayedPanes(player.play(steps)) | OrdersPerMinute(scenario.spec, Arrives.PANES)


PLANS = {"per-element": _per_element, "pre-aggregated": _pre_aggregated}


@pytest.mark.parametrize("plan", sorted(PLANS))
@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_panes(scenario, runner, plan, request):
    expected = expected_panes(scenario, runner)
    if plan == "pre-aggregated" and not ORDER_IDS_BY_REGION.can_pre_aggregate(scenario.spec):
        pytest.skip("an early firing by element count needs every element: no pre-aggregation")
    with RUNNERS[runner](request) as pipeline:
        assert_that(PLANS[plan](pipeline, scenario, runner == "played"), equal_to(expected))


def test_every_flink_difference_says_why():
    for scenario in SCENARIOS:
        assert (scenario.on_flink is None) == (scenario.flink_why is None), scenario.name
