"""End to end through the `kappa` command: generated archives, batch and replay, exact results."""
import collections
import json
import subprocess
import sys

import pytest

from kappa.pipelines import registry
from kappa.runners import cli
from tests.reference import MINUTE, SECONDS, lines_in, reference_counts


def kappa(*argv):
    return cli.main([str(a) for a in argv])


def run_orders_per_minute(out, input_path, *flags):
    """Runs the pipeline; returns (results, summary) as written to `out`."""
    assert kappa("run", "orders-per-minute", "--input", input_path, "--output", out, *flags) == 0
    results = [json.loads(line) for line in open(out / "results-00000-of-00001.jsonl")]
    return results, json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("archives")
    for fmt in ("jsonl", "avro"):
        assert kappa("generate", "orders", "--output", root / fmt, "--format", fmt, "--events", 12_000,
                     "--hours", 2, "--seed", 11) == 0
    jsonl = sorted((root / "jsonl").iterdir())
    return {"root": root, "jsonl": jsonl, "reference": reference_counts(jsonl), "lines": lines_in(jsonl)}


def assert_reconciles(summary):
    assert summary["records_in"] == (summary["counted"] + summary["duplicates"] + summary["dead_letters"]
                                     + summary["dropped_late"])


def test_batch_equals_plain_python_reference(archives, tmp_path):
    out = tmp_path / "out"
    results, summary = run_orders_per_minute(out, archives["root"] / "jsonl")
    assert {r["key"]: r["count"] for r in results} == archives["reference"]
    assert len(results) == len(archives["reference"])  # each key once
    assert all(r["timing"] == "ON_TIME" and r["is_last"] for r in results)
    assert all(r["window_end"] - r["window_start"] == MINUTE for r in results)
    assert summary["records_in"] == archives["lines"]
    assert summary["dead_letters"] == 25
    assert summary["dropped_late"] == 0
    assert summary["duplicates"] == archives["lines"] - 25 - sum(archives["reference"].values())
    assert_reconciles(summary)
    dead = [json.loads(line) for line in open(out / "dead-letter-00000-of-00001.jsonl")]
    assert len(dead) == 25 and all(set(d) == {"record", "error", "origin", "stream"} and d["error"] and d["stream"] == "orders" for d in dead)


def test_avro_archive_across_schema_versions_gives_the_same_counts(archives, tmp_path):
    results, summary = run_orders_per_minute(tmp_path / "out", f"{archives['root'] / 'avro'}/*.avro",
                                             "--input-format", "avro")
    assert {r["key"]: r["count"] for r in results} == archives["reference"]
    assert summary["dead_letters"] == 25
    assert_reconciles(summary)


def test_replay_with_enough_lateness_converges_to_the_batch_result(archives, tmp_path):
    results, summary = run_orders_per_minute(tmp_path / "out", archives["root"] / "jsonl",
                                             "--mode", "replay", "--allowed-lateness", "10m")
    finals = collections.defaultdict(int)
    for r in results:
        finals[r["key"]] = max(finals[r["key"]], r["count"])
    assert dict(finals) == archives["reference"]
    assert summary["dropped_late"] == 0
    assert_reconciles(summary)


def test_replay_without_lateness_drops_and_counts_stragglers(archives, tmp_path):
    results, summary = run_orders_per_minute(tmp_path / "out", archives["root"] / "jsonl",
                                             "--mode", "replay", "--max-out-of-orderness", "2s")
    assert all(r["timing"] == "ON_TIME" and r["is_last"] for r in results)
    assert all(r["count"] <= archives["reference"][r["key"]] for r in results)
    assert summary["dropped_late"] > 0
    assert_reconciles(summary)


REPLAYED = [  # (order_id, region, event second): the file order is the arrival order
    ("o1", "eu", 10), ("o2", "eu", 50), ("o3", "us", 30), ("o4", "eu", 65),  # watermark 60s: eu:0, us:0 fire
    ("o5", "eu", 40),  # late, within 30s of lateness ...
    ("o1", "eu", 10),  # ... and a late redelivery, counted once; both arrive before time moves: one late pane
    ("o6", "eu", 100),  # watermark 95s: window 0 expired at 90s
    ("o7", "eu", 20),  # too late: dropped
    ("o8", "us", 125),
]


def test_replay_emits_the_panes_a_stream_would(tmp_path):
    stream = tmp_path / "stream.jsonl"
    lines = [json.dumps({"order_id": i, "region": r, "amount": 1.0, "event_time": s * SECONDS})
             for i, r, s in REPLAYED]
    stream.write_text("\n".join(lines[:4] + ['{"order_id": "broken"'] + lines[4:]) + "\n")
    results, summary = run_orders_per_minute(tmp_path / "out", stream, "--mode", "replay",
                                             "--allowed-lateness", "30s", "--max-out-of-orderness", "5s")
    panes = sorted((r["key"], r["count"], r["timing"], r["is_last"]) for r in results)
    assert panes == sorted([
        ("eu:0", 2, "ON_TIME", False), ("eu:0", 3, "LATE", False),
        ("us:0", 1, "ON_TIME", False),
        ("eu:60000", 2, "ON_TIME", False),
        ("us:120000", 1, "ON_TIME", False),
    ])
    assert (summary["records_in"], summary["dead_letters"], summary["dropped_late"], summary["duplicates"],
            summary["counted"]) == (10, 1, 1, 1, 7)


@pytest.mark.parametrize("argv,message", [
    (["run", "no-such-pipeline", "--input", "x", "--output", "y"], "unknown pipeline 'no-such-pipeline'"),
    (["run", "orders-per-minute", "--input", "/nonexistent/orders.jsonl", "--output", "y"],
     "input file '/nonexistent/orders.jsonl' has no files to read"),
    (["run", "orders-per-minute", "--input", "/nonexistent/*.avro", "--output", "y"],
     "input glob '/nonexistent/*.avro' has no files to read"),
    (["run", "orders-per-minute", "--mode", "stream"], "--mode stream runs on --runner flink"),
    (["run", "orders-per-minute", "--mode", "sideways"], "argument --mode: invalid choice: 'sideways'"),
    (["run", "orders-per-minute", "--input", "x"], "--mode batch needs --input and --output"),
    (["run", "orders-per-minute", "--mode", "stream", "--runner", "flink", "--flink-master", "nowhere"],
     "--flink-master must be HOST:PORT or [local], got 'nowhere'"),
    (["run", "orders-per-minute", "--mode", "stream", "--runner", "flink", "--checkpoint-interval", "10"],
     "bad duration '10'"),
    (["run", "orders-per-minute", "--mode", "stream", "--runner", "flink", "--checkpoint-interval", "0s"],
     "--checkpoint-interval must be positive, got 0s"),
    (["run", "orders-per-minute", "--mode", "stream", "--runner", "flink", "--max-read", "0ms"],
     "--max-read must be positive, got 0ms"),
    (["run", "orders-per-minute", "--mode", "stream", "--runner", "flink", "--idle-poll", "0s"],
     "--idle-poll must be positive, got 0s"),
    (["produce", "orders", "--input", "x", "--rate", "fast"], "bad rate 'fast'"),
    (["stop", "some-job", "--savepoint", "/tmp/sp", "--flink-master", "127.0.0.1:1"],
     "Flink REST GET /jobs/overview on 127.0.0.1:1 failed"),
    (["run", "orders-per-minute", "--input", "x", "--output", "y", "--window", "60"], "bad duration '60'"),
    (["generate", "orders", "--output", "y", "--events", "0"], "--events and --hours must be positive"),
    (["run", "orders-per-minute", "--input", "x", "--output", "y", "--workers", "0"], "--workers must be at least 1, got 0"),
    (["run", "orders-per-minute", "--mode", "stream", "--runner", "flink", "--workers", "2"],
     "--workers applies to --runner direct; Flink takes --parallelism"),
    (["run", "orders-per-minute", "--input", "x", "--output", "y", "--mode", "replay", "--runner", "flink",
      "--early-firing", "10s"], "--early-firing cannot be replayed on --runner flink"),
    (["launch"], "argument command: invalid choice: 'launch'"),
    (["run", "orders-per-minute", "--input", "payments=x", "--output", "y"],
     "--input payments=x: unknown stream 'payments' (known: orders)"),
    (["run", "orders-per-minute", "--input", "orders=x", "--input", "orders=z", "--output", "y"],
     "--input gives stream 'orders' twice"),
    (["run", "live-sales", "--mode", "stream", "--runner", "flink", "--output-topic", "alerts=a"],
     "--output-topic alerts=a: unknown output 'alerts' (known: results)"),
    (["run", "live-sales", "--input", "x", "--output", "y", "--window", "60"], "bad duration '60'"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kappa: error: ") and message in err


def test_console_script_exit_status_and_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "kappa.runners.cli", "run", "orders-per-minute",
                           "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == f"kappa: error: input file '{tmp_path / 'missing'}' has no files to read"


def test_an_archive_of_another_contract_bound_to_an_input_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["generate", "fraud", "--output", str(tmp_path / "fraud"), "--events", "50", "--hours", "1"]) == 0
    payments = tmp_path / "fraud" / "payments"
    capsys.readouterr()
    assert cli.main(["run", "orders-per-minute", "--input", str(payments), "--output", str(tmp_path / "out")]) == 2
    first = sorted(payments.iterdir())[0]
    assert capsys.readouterr().err == (f"kappa: error: input orders: {first} holds kappa.events.Payment records, "
                                       "not kappa.events.Order: is it another input's archive?\n")


def test_stream_topics_default_to_the_inputs_and_the_pipelines_names():
    args = cli._parser().parse_args(["run", "orders-per-minute", "--mode", "stream", "--runner", "flink"])
    binding = cli._kafka_binding(args, registry.get("orders-per-minute"), 5_000)
    assert ({stream: source.topic for stream, source in binding.sources.items()}, dict(binding.output_topics),
            binding.dead_letter_topic, binding.late_topic, binding.sources["orders"].group_id) == (
        {"orders": "orders"}, {"results": "orders-per-minute-by-region"}, "orders-dead-letter",
        "orders-per-minute-late", "kappa-orders-per-minute")
    args = cli._parser().parse_args(["run", "live-sales", "--mode", "stream", "--runner", "flink", "--input-topic",
                                     "sales-in", "--output-topic", "results=dash", "--late-topic", "too-late"])
    binding = cli._kafka_binding(args, registry.get("live-sales"), 5_000)
    assert (binding.sources["orders"].topic, dict(binding.output_topics), binding.dead_letter_topic,
            binding.late_topic) == ("sales-in", {"results": "dash"}, "live-sales-dead-letter", "too-late")
