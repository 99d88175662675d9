"""A backfill that pre-aggregates each file split gives exactly what per-element aggregation gives:
the same results, dead letters and counts, in this process or spread over worker processes."""
import json

import pytest

from kappa.io import contracts, splits
from kappa.pipelines import registry
from kappa.runners import cli, job
from kappa.runners.job import JobRequest
from kappa.runners.profiles import DirectProfile, Mode
from kappa.transforms.aggregation import WindowedAggregation, WindowPartials
from kappa.transforms.windowing import WindowKind, WindowSpec
from tests.reference import reference_counts

TIMING_FIELDS = ("elapsed_s", "events_per_s", "output")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """4 hourly files per format, malformed records and redeliveries; the Avro folder also holds
    a file that is not Avro at all."""
    root = tmp_path_factory.mktemp("archive")
    for fmt in ("jsonl", "avro"):
        assert cli.main(["generate", "orders", "--output", str(root / fmt), "--format", fmt,
                         "--events", "8000", "--hours", "4", "--seed", "3"]) == 0
    (root / "avro" / "orders-zz-broken.avro").write_bytes(b"this is not an Avro container file\n" * 40)
    return root


def backfill(input_dir, out, *flags):
    assert cli.main(["run", "orders-per-minute", "--input", str(input_dir), "--output", str(out), *flags]) == 0
    results = sorted(open(out / "results-00000-of-00001.jsonl"))
    dead_letters = sorted(open(out / "dead-letter-00000-of-00001.jsonl"))
    summary = json.loads((out / "summary.json").read_text())
    return results, dead_letters, {k: v for k, v in summary.items() if k not in TIMING_FIELDS}


SLIDING = ("--window-kind", "sliding", "--window", "3m", "--period", "1m")  # each order in 3 windows, by its slot


@pytest.mark.parametrize("fmt, windowing", [("jsonl", ()), ("avro", ()), ("avro", SLIDING)],
                         ids=["jsonl", "avro", "avro-sliding"])
def test_pre_aggregated_equals_per_element(archive, fmt, windowing, tmp_path, monkeypatch):
    per_element = backfill(archive / fmt, tmp_path / "per-element", "--per-element", *windowing)
    monkeypatch.setattr(splits, "SPLIT_BYTES", 50_000)  # several splits per file, each on either worker
    monkeypatch.setattr(job, "WORKER_BYTES", 50_000)  # and worker processes even for this small input
    for workers in ("1", "2"):
        assert backfill(archive / fmt, tmp_path / f"pre-aggregated-{workers}", "--workers", workers,
                        *windowing) == per_element
    results, dead_letters, summary = per_element
    if windowing:  # a 3-minute window for every minute that starts one holding an order
        minutes = {(r["region"], r["window_start"]) for r in map(json.loads, backfill(archive / fmt, tmp_path / "fixed")[0])}
        assert sorted((r["region"], r["window_start"]) for r in map(json.loads, results)) == sorted(
            {(region, start - back * 60_000) for region, start in minutes for back in range(3)})
        return
    if fmt == "jsonl":
        counts = {json.loads(r)["key"]: json.loads(r)["count"] for r in results}
        assert counts == reference_counts(sorted((archive / fmt).iterdir()))
    assert len(dead_letters) == summary["dead_letters"] == 25 + (fmt == "avro")
    assert summary["records_in"] == summary["counted"] + summary["duplicates"] + summary["dead_letters"]


def test_fixed_windows_without_count_triggers_pre_aggregate_in_every_mode():
    pipeline = registry.get("orders-per-minute")
    fixed = WindowSpec(size_ms=60_000)
    late_and_early = WindowSpec(size_ms=60_000, allowed_lateness_ms=5_000, early_firing_delay_ms=1_000)
    by_count = WindowSpec(size_ms=60_000, early_firing_count=3)
    files = job.FileBinding(inputs={}, patterns={}, output_dir="out")
    brokers = job.KafkaBinding(bootstrap_servers="b:9092", sources={}, output_topics={}, dead_letter_topic="d",
                               late_topic="l")

    def pre_aggregates(mode, spec, **flags):
        request = JobRequest(pipeline=pipeline.configured(spec=spec), mode=mode, profile=DirectProfile(),
                             binding=brokers if mode is Mode.STREAM else files, **flags)
        return request.pre_aggregates("orders")

    assert pre_aggregates(Mode.BATCH, fixed)
    assert pre_aggregates(Mode.STREAM, late_and_early)
    assert pre_aggregates(Mode.BATCH, by_count)  # a batch fires each window once, by no count
    assert not pre_aggregates(Mode.STREAM, by_count)
    assert not pre_aggregates(Mode.BATCH, fixed, per_element=True)
    assert not pre_aggregates(Mode.STREAM, fixed, per_element=True)
    assert pre_aggregates(Mode.REPLAY, late_and_early)  # the records a replay sends together
    assert not pre_aggregates(Mode.REPLAY, by_count)
    assert not pre_aggregates(Mode.REPLAY, fixed, per_element=True)
    assert not pre_aggregates(Mode.BATCH, WindowSpec(kind=WindowKind.SESSION, size_ms=60_000))
    assert pre_aggregates(Mode.STREAM, WindowSpec(kind=WindowKind.SLIDING, size_ms=60_000, period_ms=30_000))
    assert not pre_aggregates(Mode.STREAM, WindowSpec(kind=WindowKind.SLIDING, size_ms=60_000, period_ms=25_000))
    with pytest.raises(ValueError, match="without early firing by count only"):
        WindowPartials(pipeline.aggregation, by_count)
    assert WindowedAggregation.can_pre_aggregate(late_and_early)


def test_partials_fold_values_per_key_and_window():
    aggregation = registry.get("orders-per-minute").aggregation
    partials = WindowPartials(aggregation, WindowSpec(size_ms=60_000))
    Order = contracts.contract("order").record_type
    events = [Order("o1", "eu", 1.0, 59_999), Order("o1", "eu", 1.0, 10), Order("o2", "eu", 1.0, 60_000),
              Order("o3", "us", 1.0, 0)]
    assert partials.add_all(events) == 4
    folded = sorted((p.value[0], p.timestamp.micros // 1000, sorted(p.value[1][0]), p.value[1][1])
                    for p in partials.partials())
    assert folded == [("eu", 0, ["o1"], 2), ("eu", 60_000, ["o2"], 1), ("us", 0, ["o3"], 1)]


def test_partials_of_sliding_windows_fold_per_period():
    aggregation = registry.get("orders-per-minute").aggregation
    partials = WindowPartials(aggregation, WindowSpec(kind=WindowKind.SLIDING, size_ms=60_000, period_ms=30_000))
    Order = contracts.contract("order").record_type
    assert partials.add_all([Order("o1", "eu", 1.0, 10), Order("o2", "eu", 1.0, 29_999),
                             Order("o3", "eu", 1.0, 30_000)]) == 3
    folded = sorted((p.value[0], p.timestamp.micros // 1000, sorted(p.value[1][0])) for p in partials.partials())
    assert folded == [("eu", 0, ["o1", "o2"]), ("eu", 30_000, ["o3"])]


def test_pre_aggregated_on_flink_batch_equals_per_element(archive, tmp_path, monkeypatch):
    per_element = backfill(archive / "avro", tmp_path / "per-element", "--runner", "flink", "--per-element")
    monkeypatch.setattr(splits, "SPLIT_BYTES", 50_000)
    assert backfill(archive / "avro", tmp_path / "pre-aggregated", "--runner", "flink") == per_element
    direct = backfill(archive / "avro", tmp_path / "direct")
    assert [json.loads(r)["count"] for r in per_element[0]] == [json.loads(r)["count"] for r in direct[0]]
