"""CombineInBundles gives the combine of all its records once, whatever the bundles, and nothing for none."""
import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from kappa.transforms.bundle_combine import CombineInBundles, _MergeAccumulators


def test_the_combine_of_every_record_once():
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        numbers = pipeline | beam.Create(list(range(1, 1001))) | beam.Reshuffle()
        assert_that(numbers | "Count" >> CombineInBundles(beam.combiners.CountCombineFn()), equal_to([1000]),
                    label="count")
        assert_that(numbers | "Sum" >> CombineInBundles(beam.combiners.SingleInputTupleCombineFn(
            beam.combiners.CountCombineFn(), beam.transforms.combiners.MeanCombineFn())),
            equal_to([(1000, 500.5)]), label="count and mean")


def test_no_records_give_no_element():
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        none = pipeline | beam.Create([]).with_output_types(int)
        assert_that(none | CombineInBundles(beam.combiners.CountCombineFn()), equal_to([]))


def test_bundles_accumulators_merge_into_the_whole():
    """As the combine of three bundles' accumulators sees them, in any order."""
    count = beam.combiners.CountCombineFn()
    merge = _MergeAccumulators(count)
    bundles = [3, 5, 9]
    for order in (bundles, bundles[::-1]):
        accumulator = merge.create_accumulator()
        for bundle in order:
            accumulator = merge.add_input(accumulator, bundle)
        assert merge.extract_output(accumulator) == 17
    assert merge.extract_output(merge.merge_accumulators([3, 14])) == 17
