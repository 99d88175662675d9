"""The bad-input corpus, flags, outputs and the summary: each bad flag, path or value kappa is given, and
its exact outcome (a one-line error with its exit status, or the exact figures of the summary). Records
and files: `test_bad_records.py`."""
import argparse
import json
import os
import platform
import pty
import re
import signal
import subprocess
import sys
import time

import apache_beam
import pytest

from kappa.io import writers
from kappa.pipelines import registry
from kappa.runners import cli, job, summary, usage
from kappa.transforms import metrics
from tests.permissions import unprivileged

# --- flags, outputs and summary ---

ORDER = '{{"order_id": "{}", "region": "{}", "amount": 1.0, "event_time": {}}}'
SMALL = [ORDER.format("o1", "eu", 10_000), ORDER.format("o2", "eu", 20_000),
         ORDER.format("o1", "eu", 10_000),  # a redelivery
         ORDER.format("o3", "us", 70_000), ORDER.format("o4", "us", 130_000), "not json"]
RUN = ("run", "orders-per-minute")


def kappa(capsys, *argv):
    """`kappa ARGV` in this process: (exit status, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def kappa_command(*argv):
    """The console script's command line, run as a separate process."""
    return [sys.executable, "-m", "kappa.runners.console", *[str(a) for a in argv]]


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "in" / "orders.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(SMALL) + "\n")
    return path


def _generated(tmp_path_factory, events, hours):
    root = tmp_path_factory.mktemp("generated") / "orders"
    assert cli.main(["generate", "orders", "--output", str(root), "--format", "jsonl", "--events", str(events),
                     "--hours", str(hours), "--seed", "5"]) == 0
    return root


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """101,012 JSON lines in 13 files (9.4 MB): a backfill of it gets two worker processes."""
    return _generated(tmp_path_factory, 100_000, 12)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """30,303 JSON lines: a replay of it plays for a while after its first 10,000 records."""
    return _generated(tmp_path_factory, 30_000, 2)


def test_output_that_is_a_file_is_refused_before_the_job(small, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(job, "run", lambda request: pytest.fail("the job ran"))
    (tmp_path / "taken").write_text("")
    assert kappa(capsys, *RUN, "--input", small, "--output", tmp_path / "taken") == (
        2, "", f"kappa: error: output '{tmp_path / 'taken'}' is a file, not a folder\n")
    assert kappa(capsys, *RUN, "--input", small, "--output", tmp_path / "taken" / "out") == (
        2, "", f"kappa: error: output '{tmp_path / 'taken' / 'out'}' cannot be created: Not a directory\n")


def test_output_on_a_read_only_file_system_is_refused(small, capsys, monkeypatch):
    """sysfs refuses new files and folders, even to root."""
    monkeypatch.setattr(job, "run", lambda request: pytest.fail("the job ran"))
    if os.geteuid() != 0 or not os.path.isdir("/sys/kernel"):
        pytest.skip("needs root and sysfs at /sys; the unprivileged test covers other users")
    assert kappa(capsys, *RUN, "--input", small, "--output", "/sys/kernel") == (
        2, "", "kappa: error: output '/sys/kernel' is not writable: Permission denied\n")
    assert kappa(capsys, *RUN, "--input", small, "--output", "/sys/kappa-out") == (
        2, "", "kappa: error: output '/sys/kappa-out' cannot be created: Operation not permitted\n")


def test_unwritable_output_is_refused_before_the_job_as_an_unprivileged_process(small, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    preexec = unprivileged()
    if preexec is not None:
        try:
            subprocess.run(["true"], preexec_fn=preexec, check=True)
        except (OSError, subprocess.SubprocessError) as err:
            pytest.skip(f"cannot drop root's permission overrides here: {err}")
    for output, problem in [(locked, "is not writable"), (locked / "out", "cannot be created")]:
        done = subprocess.run(kappa_command(*RUN, "--input", small, "--output", output), preexec_fn=preexec,
                              capture_output=True, text=True)
        assert (done.returncode, done.stdout, done.stderr) == (
            2, "", f"kappa: error: output '{output}' {problem}: Permission denied\n")
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("input_at,output_at,message", [
    ("in", "in", "output '{out}' is the input's folder: a later run would read its results as input"),
    ("in", "in/out", "output '{out}' is inside the input's folder '{root}/in': "
                     "a later run would read its results as input"),
    ("in/*.jsonl", "in", "output '{out}' is the input's folder: a later run would read its results as input"),
    ("in/*.jsonl", "in/out", "output '{out}' is inside the input's folder '{root}/in': "
                             "a later run would read its results as input"),
    ("in/orders.jsonl", "in", "output '{out}' is the input's folder: a later run would read its results as input"),
    ("in", ".", "input '{inp}' is inside the output '{out}': a run's output folder must not hold its input"),
    ("in/orders.jsonl", ".", "input '{inp}' is inside the output '{out}': a run's output folder must not hold "
                             "its input"),
])
def test_output_overlapping_the_input_is_refused(small, input_at, output_at, message, capsys, monkeypatch):
    monkeypatch.setattr(job, "run", lambda request: pytest.fail("the job ran"))
    root = small.parent.parent
    inp, out = f"{root}/{input_at}", os.path.normpath(f"{root}/{output_at}")
    assert kappa(capsys, *RUN, "--input", inp, "--output", out) == (
        2, "", f"kappa: error: {message.format(inp=inp, out=out, root=root)}\n")


def test_output_beside_a_file_input_is_accepted(small, tmp_path, capsys):
    """A file input reads that file only: an output folder beside it is never read."""
    code, _, err = kappa(capsys, *RUN, "--input", small, "--output", small.parent / "out")
    assert (code, err) == (0, "")


@pytest.mark.parametrize("flags,message", [
    (["--window", "-1s"], "--window must be positive, got -1s"),
    (["--window", "367d"], "--window must be at most 366d, got 367d"),
    (["--gap", "-5m"], "--gap must be positive, got -5m"),
    (["--gap", "0s"], "--gap must be positive, got 0s"),
    (["--window", "10m", "--period", "-1m"], "--period must be positive, got -1m"),
    (["--early-firing", "367d"], "--early-firing must be at most 366d, got 367d"),
    (["--mode", "replay", "--allowed-lateness", "99999999999999d"],
     "--allowed-lateness must be at most 365d, got 99999999999999d"),
    (["--mode", "replay", "--allowed-lateness", "-1s"], "--allowed-lateness must be zero or positive, got -1s"),
    (["--mode", "replay", "--max-out-of-orderness", "99999999999999d"],
     "--max-out-of-orderness must be at most 365d, got 99999999999999d"),
    (["--mode", "replay", "--max-out-of-orderness", "-5s"], "--max-out-of-orderness must be zero or positive, got -5s"),
    (["--mode", "replay", "--max-out-of-orderness", "5"],
     "--max-out-of-orderness: bad duration '5': use a whole number with a unit, e.g. 500ms, 60s, 5m, 1h"),
    (["--early-count", "-3"], "--early-count must be positive, got -3"),
    (["--workers", "-2"], "--workers must be at least 1, got -2"),
    (["--max-dead-letter-ratio", "2"], "--max-dead-letter-ratio must be a number from 0 to 1, got 2"),
    (["--max-dead-letter-ratio", "-0.1"], "--max-dead-letter-ratio must be a number from 0 to 1, got -0.1"),
    (["--max-dead-letter-ratio", "nan"], "--max-dead-letter-ratio must be a number from 0 to 1, got nan"),
    (["--max-dead-letter-ratio", "some"], "--max-dead-letter-ratio must be a number from 0 to 1, got some"),
])
def test_bad_run_flags_are_one_line_errors(small, tmp_path, flags, message, capsys, monkeypatch):
    monkeypatch.setattr(job, "run", lambda request: pytest.fail("the job ran"))
    assert kappa(capsys, *RUN, "--input", small, "--output", tmp_path / "out", *flags) == (
        2, "", f"kappa: error: {message}\n")
    assert not (tmp_path / "out").exists()


STREAM = (*RUN, "--mode", "stream", "--runner", "flink")


@pytest.mark.parametrize("argv,message", [
    ([*STREAM, "--checkpoint-interval", "2d"], "--checkpoint-interval must be at most 1d, got 2d"),
    ([*STREAM, "--max-read", "2h"], "--max-read must be at most 1h, got 2h"),
    ([*STREAM, "--idle-poll", "-1s"], "--idle-poll must be positive, got -1s"),
    ([*STREAM, "--idle-timeout", "-1s"], "--idle-timeout must be zero or positive, got -1s"),
    ([*STREAM, "--idle-timeout", "25h"], "--idle-timeout must be at most 1d, got 25h"),
    ([*STREAM, "--parallelism", "-1"], "--parallelism must be at least 1, got -1"),
    (["consume", "some-topic", "--idle", "-1s"], "--idle must be positive, got -1s"),
    (["consume", "some-topic", "--limit", "-1"], "--limit must be at least 1, got -1"),
    (["produce", "orders", "--input", "x", "--partitions", "-1"], "--partitions must be at least 1, got -1"),
    (["generate", "orders", "--output", "never", "--malformed", "-3"],
     "--malformed must be from 0 to --events (200,000), got -3"),
    (["generate", "orders", "--output", "never", "--events", "10", "--malformed", "11"],
     "--malformed must be from 0 to --events (10), got 11"),
    (["generate", "orders", "--output", "never", "--hours", "8785"], "--hours must be at most 8784 (366 days), got 8785"),
    (["generate", "orders", "--output", "never", "--events", "-5"], "--events and --hours must be positive"),
])
def test_bad_values_of_other_commands_are_one_line_errors(argv, message, capsys):
    assert kappa(capsys, *argv) == (2, "", f"kappa: error: {message}\n")
    assert not os.path.exists("never")


def test_generate_into_a_file_or_under_one_is_a_one_line_error(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("")
    assert kappa(capsys, "generate", "orders", "--output", taken) == (
        2, "", f"kappa: error: output '{taken}' is a file, not a folder\n")
    assert kappa(capsys, "generate", "orders", "--output", taken / "sub") == (
        2, "", f"kappa: error: output '{taken / 'sub'}' cannot be created: Not a directory\n")


def _figures(report):
    return {k: report[k] for k in ("records_in", "counted", "duplicates", "dead_letters", "dropped_late",
                                   "too_late", "windows", "first_window_start", "last_window_start", "streams",
                                   "failed_check")}


SMALL_STREAMS = {"orders": {"records_in": 6, "used": 4, "duplicates": 1, "dead_letters": 1, "too_late": 0}}


def test_batch_counts_each_figure_on_its_own_and_they_reconcile(small, tmp_path, capsys):
    code, out, err = kappa(capsys, *RUN, "--input", small, "--output", tmp_path / "out")
    assert (code, err) == (0, "")
    report = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert _figures(report) == {"records_in": 6, "counted": 4, "duplicates": 1, "dead_letters": 1,
                                "dropped_late": 0, "too_late": 0, "windows": 3, "first_window_start": 0,
                                "last_window_start": 120_000, "streams": SMALL_STREAMS, "failed_check": None}
    assert "  first window 1970-01-01T00:00:00Z   0\n  last window  1970-01-01T00:02:00Z   120000\n" in out


def test_replay_takes_its_figures_from_the_replay_plan(small, tmp_path, capsys):
    code, _, err = kappa(capsys, *RUN, "--input", small, "--output", tmp_path / "out", "--mode", "replay")
    assert (code, err) == (0, "")
    assert _figures(json.loads((tmp_path / "out" / "summary.json").read_text())) == {
        "records_in": 6, "counted": 4, "duplicates": 1, "dead_letters": 1, "dropped_late": 0, "too_late": 0,
        "windows": 3, "first_window_start": 0, "last_window_start": 120_000, "streams": SMALL_STREAMS,
        "failed_check": None}


def test_sliding_windows_leave_duplicates_and_drops_unknown(small, tmp_path, capsys):
    code, out, _ = kappa(capsys, *RUN, "--input", small, "--output", tmp_path / "out", "--window", "2m",
                         "--period", "1m")
    report = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert code == 0 and (report["duplicates"], report["failed_check"]) == (None, None)
    assert report["streams"]["orders"] == {"records_in": 6, "used": None, "duplicates": None, "dead_letters": 1,
                                           "too_late": 0}
    assert "  used                  n/a\n  duplicates            n/a\n" in out


def test_counts_that_do_not_reconcile_fail_the_run_with_exit_3(small, tmp_path, capsys, monkeypatch):
    """A reader that counted a record it never handed on: records in no longer add up."""
    read_facts = job._read_facts

    def one_more_read(output_dir):
        facts = read_facts(output_dir)
        facts.counts["orders"]["records_in"] += 1
        return facts
    monkeypatch.setattr(job, "_read_facts", one_more_read)
    code, out, err = kappa(capsys, *RUN, "--input", small, "--output", tmp_path / "out")
    problem = ("the counts of orders do not reconcile: records in 7 != used 4 + duplicates 1 + dead letters 1 + "
               "too late 0 (= 6)")
    assert (code, err) == (3, f"kappa: error: {problem}\n")
    assert out.startswith("orders-per-minute | batch on direct | fixed 1m, lateness 0ms, accumulating\n")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["failed_check"] == problem


def test_a_run_in_which_every_record_is_a_dead_letter_fails_with_exit_3(tmp_path, capsys):
    broken = tmp_path / "broken.jsonl"
    broken.write_text("not json\n{}\n[1]\n")
    out_dir = tmp_path / "out"
    code, out, err = kappa(capsys, *RUN, "--input", broken, "--output", out_dir)
    problem = (f"every record read (3) is a dead letter (see {out_dir}/dead-letter-*.jsonl; "
               "--max-dead-letter-ratio sets how many may be)")
    assert (code, err) == (3, f"kappa: error: {problem}\n")
    assert "  dead letters            3\n" in out
    report = json.loads((out_dir / "summary.json").read_text())
    assert (report["records_in"], report["dead_letters"], report["failed_check"]) == (3, 3, problem)


def test_an_empty_input_passes_the_default_dead_letter_check(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("")
    code, _, err = kappa(capsys, *RUN, "--input", tmp_path / "empty.jsonl", "--output", tmp_path / "out")
    assert (code, err) == (0, "")


@pytest.mark.parametrize("ratio,outcome", [
    ("0.1", (3, "kappa: error: 1 of 6 records are dead letters (16.7%), more than --max-dead-letter-ratio 0.1 "
                "allows (see {out}/dead-letter-*.jsonl)\n")),
    ("0.2", (0, "")),
    ("0", (3, "kappa: error: 1 of 6 records are dead letters (16.7%), more than --max-dead-letter-ratio 0 "
              "allows (see {out}/dead-letter-*.jsonl)\n")),
])
def test_max_dead_letter_ratio(small, tmp_path, ratio, outcome, capsys):
    out_dir = tmp_path / "out"
    code, out, err = kappa(capsys, *RUN, "--input", small, "--output", out_dir, "--max-dead-letter-ratio", ratio)
    assert (code, err) == (outcome[0], outcome[1].format(out=out_dir))
    assert out.startswith("orders-per-minute | batch on direct")


def test_a_failed_run_leaves_no_stale_summary(small, tmp_path, capsys, monkeypatch):
    out_dir = tmp_path / "out"
    assert kappa(capsys, *RUN, "--input", small, "--output", out_dir)[0] == 0

    def fails(*args):
        raise RuntimeError("the pipeline broke")

    monkeypatch.setattr(job, "build", fails)
    with pytest.raises(RuntimeError, match="the pipeline broke"):
        cli.main([*RUN, "--input", str(small), "--output", str(out_dir)])
    assert sorted(p.name for p in out_dir.iterdir()) == []


def test_batch_says_which_stream_flags_it_ignores(small, tmp_path, capsys):
    code, out, err = kappa(capsys, *RUN, "--input", small, "--output", tmp_path / "out", "--allowed-lateness", "10m",
                           "--early-count", "3", "--accumulation", "discarding", "--max-out-of-orderness", "1s")
    assert (code, err) == (0, "kappa: warning: --mode batch ignores --allowed-lateness, --early-count, --accumulation "
                              "and --max-out-of-orderness: a backfill has no late records and gives each window "
                              "one final pane (--mode replay plays the input as a stream)\n")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["windowing"] == \
        "fixed 1m, lateness 0ms, accumulating"
    code, _, err = kappa(capsys, *RUN, "--input", small, "--output", tmp_path / "out", "--early-firing", "10s")
    assert (code, err) == (0, "kappa: warning: --mode batch ignores --early-firing: a backfill has no late records "
                              "and gives each window one final pane (--mode replay plays the input as a stream)\n")


def test_replay_says_it_ignores_workers(small, tmp_path, capsys):
    code, _, err = kappa(capsys, *RUN, "--input", small, "--output", tmp_path / "out", "--mode", "replay",
                         "--workers", "2")
    assert (code, err) == (0, "kappa: warning: --mode replay ignores --workers: a replay plays its stream in this "
                              "process, in order\n")


@pytest.mark.parametrize("argv,message", [
    (["schema", "check", "orders", "{schema}"], "unknown schema subject 'orders' (known: cell-surge, device, driver-location, heartbeat, order, orders-per-minute, payment, payment-score, region-minute-sales, ride-request, show-minute-viewers, viewing-session)"),
    (["schema", "check", "order", "{missing}"], "cannot read {missing}: No such file or directory"),
    (["schema", "check", "order", "{not_json}"],
     "{not_json} is not JSON: Expecting value: line 1 column 1 (char 0)"),
    (["schema", "check", "order", "{foo}"], "{foo} is not a valid Avro schema: unknown type 'foo'"),
    (["schema", "check", "order", "{nameless}"],
     "{nameless} is not a valid Avro schema: \"name\" is a required field missing from the schema: "
     "{{'type': 'record', 'fields': []}}"),
    (["schema", "check", "order", "{number}"],
     "{number} is not a valid Avro schema: a schema is a JSON object, an array (a union) or a type name, not int 3"),
    (["schema", "check", "order", "{schema}", "--compatibility", "sideways"],
     "argument --compatibility: invalid choice: 'SIDEWAYS' (choose from 'BACKWARD', 'FORWARD', 'FULL', "
     "'BACKWARD_TRANSITIVE', 'FORWARD_TRANSITIVE', 'FULL_TRANSITIVE', 'NONE')"),
])
def test_bad_schema_checks_are_one_line_errors(tmp_path, argv, message, capsys):
    files = {"schema": tmp_path / "v3.avsc", "missing": tmp_path / "missing.avsc", "not_json": tmp_path / "x.avsc",
             "foo": tmp_path / "foo.avsc", "nameless": tmp_path / "nameless.avsc", "number": tmp_path / "3.avsc"}
    files["schema"].write_text(json.dumps(registry_schema("order")))
    files["not_json"].write_text("nope")
    files["foo"].write_text('{"type": "foo"}')
    files["nameless"].write_text('{"type": "record", "fields": []}')
    files["number"].write_text("3")
    assert kappa(capsys, *[a.format(**files) for a in argv]) == (2, "", f"kappa: error: {message.format(**files)}\n")


def registry_schema(subject):
    from kappa.io.schema_registry import SchemaRegistry
    registry_ = SchemaRegistry()
    return json.loads((registry_.root / subject / f"v{registry_.versions(subject)[-1]}.avsc").read_text())


def test_compatibility_modes_are_taken_in_any_case(tmp_path, capsys):
    schema = tmp_path / "v3.avsc"
    schema.write_text(json.dumps(registry_schema("order")))
    assert kappa(capsys, "schema", "check", "order", schema, "--compatibility", "backward_transitive") == (
        0, f"{schema}: compatible with order (BACKWARD_TRANSITIVE)\n", "")


def test_version_names_kappa_beam_flink_and_kafka(capsys):
    assert kappa(capsys, "--version") == (0, "\n".join([
        "kappa 0.1.0",
        "Apache Beam 2.62.0 (Python SDK; the Flink job server is the same release)",
        "Apache Flink 1.19.0 (Beam's Flink runner, the embedded Flink and the session cluster)",
        "Apache Kafka 4.1.1 (the broker that `make kafka-up` starts)",
        f"Python {platform.python_version()}",
    ]) + "\n", "")
    assert apache_beam.__version__ == "2.62.0"


def test_kappa_alone_prints_the_usage_and_exits_2(capsys):
    assert kappa(capsys) == (2, cli._parser().format_help(), "")


def test_run_help_lists_the_pipelines(capsys):
    code, out, err = kappa(capsys, "run", "--help")
    assert (code, err) == (0, "")
    assert out.startswith("usage: kappa run [-h] [--input STREAM=PATH]")
    assert out.endswith(
        "pipelines:\n"
        "  concurrent-viewers     distinct viewers per show per minute from viewing sessions of heartbeats (gap 90s), "
        "and every session [sessions: session 90s, lateness 0ms, accumulating; minutes: sliding 2m, every 1m, "
        "offset 30s, lateness 0ms, accumulating]\n"
        "  fraud-scoring          each payment scored against its device's logins and recent payments and its "
        "account's day of payments; alerts at a score of 50 [device_logins: [t - 30m, t]; device_payments: "
        "(t - 1m, t]; account_payments: [t - 1d, t); lateness 0ms]\n"
        "  live-sales             orders and revenue per region per 1-minute event-time window, early panes every 5 s "
        "for a dashboard [fixed 1m, early every 5s, lateness 5m, accumulating]\n"
        "  orders-per-minute      orders per region per 1-minute event-time window, redeliveries "
        "counted once [fixed 1m, lateness 0ms, accumulating]\n"
        "  surge-pricing          ride demand against available drivers per map cell in 5-minute windows every "
        "minute, and the surge multiplier (1.0 to 3.0) [sliding 5m, every 1m, lateness 0ms, accumulating]\n"
        "`kappa run NAME --help` shows a pipeline's inputs, outputs and default windowing.\n")


def test_run_name_help_shows_the_pipelines_inputs_outputs_and_windowing(capsys):
    code, out, err = kappa(capsys, "run", "orders-per-minute", "--help")
    assert (code, err) == (0, "")
    page, flags = out.split("\n\nusage: kappa run ", 1)
    assert page.splitlines()[:6] == [
        "orders-per-minute: orders per region per 1-minute event-time window, redeliveries counted once",
        "",
        "inputs:",
        "  batch, replay: --input STREAM=PATH, JSON Lines (one JSON object per line) or Avro container files",
        "  stream:        --input-topic STREAM=TOPIC, Avro in the Confluent wire format or JSON",
        "  orders: 'order' events (schema v2; archives written with v1..v2 resolve into it), topic orders",
    ]
    assert "  results: 'orders-per-minute' (schema v1), keyed by key, topic orders-per-minute-by-region" in page
    assert "    currency       string = \"EUR\"           ISO 4217 code; added in v2." in page.splitlines()
    assert "    timing         EARLY|ON_TIME|LATE|UNKNOWN" in page.splitlines()
    assert page.splitlines()[-1] == ("windowing: fixed 1m, lateness 0ms, accumulating (the windowing flags "
                                     "below change it; --mode batch gives one final pane per window)")
    assert kappa(capsys, "run", "no-such-pipeline", "--help") == (
        2, "", "kappa: error: unknown pipeline 'no-such-pipeline' (known: concurrent-viewers, fraud-scoring, live-sales, orders-per-minute, surge-pricing)\n")


def test_every_flag_says_its_default_and_run_groups_them():
    parser = cli._parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    formatter = usage.HelpFormatter("kappa")
    for name, command in commands.items():
        for action in command._actions:
            if action.option_strings and not action.required and action.default is not argparse.SUPPRESS:
                assert "default" in formatter._get_help_string(action), f"kappa {name} {action.option_strings[0]}"
    assert [group.title for group in commands["run"]._action_groups[2:]] == [
        "input and output (batch and replay)", "how it runs",
        "windowing and event time (unset: the pipeline's default, see `kappa run NAME --help`)",
        "Flink (--runner flink)", "Kafka (--mode stream)"]


def test_the_region_table_stays_readable_whatever_the_keys():
    assert summary.per_key_table({"eu-west": 3, "a" * 40: 1, "eu\nwest": 2, "zero\u200bwidth": 5}) == [
        "    eu-west                           3",
        "    aaaaaaaaaaaaaaaaaaaaaaa\u2026          1",
        "    eu\\nwest                          2",
        "    zero\\u200bwidth                   5",
    ]
    many = summary.per_key_table({f"r{i:02d}": i for i in range(55)})
    assert len(many) == 51 and many[49] == "    r49            49"
    assert many[50] == "    ... and 5 more (summary.json has them all)"


def _reading(run, folder):
    """Waits until the run's readers have counted records in (it is then mid-run), failing if it ends first."""
    deadline = time.monotonic() + 600
    while metrics.progress(folder) == 0:
        assert run.poll() is None, f"the run ended before it was interrupted: {run.communicate()}"
        assert time.monotonic() < deadline, "the run never started reading"
        time.sleep(0.1)


def _in_session(session_id):
    """Processes of a session (a run started with start_new_session and all it started)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session_id:
            found.append(int(pid))
    return found


@pytest.mark.parametrize("data,flags", [
    ("archive", ["--workers", "1"]),
    ("archive", ["--workers", "2"]),
    ("recording", ["--mode", "replay"]),
])
def test_ctrl_c_stops_a_run_with_one_line_and_exit_130(request, data, flags, tmp_path):
    """Ctrl-C as a terminal sends it: SIGINT to the run's whole process group, mid-run."""
    folder = tmp_path / "progress"
    folder.mkdir()
    run = subprocess.Popen(kappa_command(*RUN, "--input", request.getfixturevalue(data), "--output",
                                         tmp_path / "out", *flags),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                           env={**os.environ, metrics.PROGRESS_DIR_ENV: str(folder)})
    try:
        _reading(run, folder)
        os.killpg(run.pid, signal.SIGINT)
        out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert (run.returncode, out, err) == (130, "", "kappa: interrupted\n")
    assert _in_session(run.pid) == []
    assert not (tmp_path / "out" / writers.SUMMARY).exists()


_FRAME = re.compile(r"\r\x1b\[K  records read ([\d,]+)   [\d,]+/s   \d+\.\ds elapsed")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_progress_shows_on_a_terminal(archive, tmp_path, workers):
    controller, terminal = pty.openpty()
    run = subprocess.Popen(kappa_command(*RUN, "--input", archive, "--output", tmp_path / "out", "--workers", workers),
                           stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal is gone once every process that had it has ended
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert run.wait() == 0
    run.stdout.close()
    text = shown.decode()
    frames = _FRAME.findall(text)
    assert _FRAME.sub("", text) == "\r\x1b[K"  # nothing else: no warning; the line erased at the end
    counts = [int(count.replace(",", "")) for count in frames]
    records_in = json.loads((tmp_path / "out" / writers.SUMMARY).read_text())["records_in"]
    assert counts[0] == 0 and counts == sorted(counts) and counts[-1] == records_in == 101_012


def test_no_progress_and_no_warning_when_stderr_is_not_a_terminal(archive, recording, tmp_path):
    """Worker processes (--workers 2) and a replay through a stateful step (lateness) print nothing on stderr."""
    for flags in (["--input", archive, "--workers", "2"],
                  ["--input", recording, "--mode", "replay", "--allowed-lateness", "30s"]):
        done = subprocess.run(kappa_command(*RUN, "--output", tmp_path / "out", *flags), capture_output=True, text=True)
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout.startswith("orders-per-minute | ")
