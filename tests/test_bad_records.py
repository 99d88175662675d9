"""The bad-input corpus, records and files: every bad record or file kappa reads, and its exact outcome (a
dead letter with its reason, record and origin, counts that reconcile, or the exact one-line error and
its exit status). Flags, outputs and the summary: `test_bad_flags.py`."""
import base64
import gzip
import json
import os
import subprocess
import sys
import time

import fastavro
import pytest

from kappa.io import splits
from kappa.io.dead_letter import DeadLetter
from kappa.io.event_codec import Decoder, Encoder, ValueFormat
from kappa.io.orders import Order, OrderParser
from kappa.io.schema_registry import SchemaRegistry
from kappa.runners import cli, job
from tests.permissions import unprivileged

# ---------------------------------------------------------------------------------------------------
# Records and files (input-corpus): the event contract, the readers, the input's files
# ---------------------------------------------------------------------------------------------------

EVENT_TIME_RANGE = "0 .. 253402300799999 ms (1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z)"
TOO_FAR_AHEAD = "event_time too far ahead: more than 1h after the wall clock when read"
NOW_MS = int(time.time() * 1000)
HOUR_MS = 3_600_000
T0 = 1_795_737_600_000  # 2026-11-27T00:00Z, a window start


def order(order_id="o1", region="eu", amount=1.0, event_time=T0, **fields):
    return {"order_id": order_id, "region": region, "amount": amount, "event_time": event_time, **fields}


def jsonl(path, *lines):
    """Writes lines (dicts as JSON, bytes as they are) and returns each line's bytes."""
    encoded = [line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines]
    path.write_bytes(b"".join(line + b"\n" for line in encoded))
    return encoded


def offsets(encoded):
    """Byte offset of each line written by `jsonl`."""
    starts, position = [], 0
    for line in encoded:
        starts.append(position)
        position += len(line) + 1
    return starts


def by_origin(dead_letter):
    """Dead letters in file order: by path, byte offset, index in the Avro block."""
    path, _, where = dead_letter["origin"].rpartition("@")
    offset, _, index = where.partition("#")
    return (path, int(offset), int(index or -1)) if path else (dead_letter["origin"], -1, -1)


def kappa_run(input_path, out, *flags):
    """A backfill through the CLI -> (counts by window key, dead letters, summary)."""
    assert cli.main(["run", "orders-per-minute", "--input", str(input_path), "--output", str(out), *flags]) == 0
    results = [json.loads(line) for line in open(out / "results-00000-of-00001.jsonl")]
    dead_letters = sorted((json.loads(line) for line in open(out / "dead-letter-00000-of-00001.jsonl")),
                          key=by_origin)
    assert [dead.pop("stream") for dead in dead_letters] == ["orders"] * len(dead_letters)
    summary = json.loads((out / "summary.json").read_text())
    return {r["key"]: r["count"] for r in results}, dead_letters, summary


TIMING_FIELDS = ("elapsed_s", "events_per_s", "output")


def every_plan(input_path, tmp_path, monkeypatch, *flags):
    """The backfill in both plans, in this process, then over two worker processes with several splits
    a file: all four must give the same results, dead letters and summary; that is returned."""
    runs = []
    for workers in ("1", "2"):
        if workers == "2":
            monkeypatch.setattr(splits, "SPLIT_BYTES", 256)
            monkeypatch.setattr(job, "WORKER_BYTES", 256)
        for plan, plan_flags in (("per-element", ["--per-element"]), ("pre-aggregated", [])):
            out = tmp_path / f"{plan}-{workers}"
            counts, dead_letters, summary = kappa_run(input_path, out, *flags, "--workers", workers, *plan_flags)
            runs.append((counts, dead_letters, {k: v for k, v in summary.items() if k not in TIMING_FIELDS}))
    assert all(run == runs[0] for run in runs[1:])
    counts, dead_letters, summary = runs[0]
    assert summary["records_in"] == summary["counted"] + summary["duplicates"] + summary["dead_letters"]
    assert summary["dead_letters"] == len(dead_letters)
    return runs[0]


def usage_error(capsys, *argv):
    assert cli.main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err.rstrip("\n")


def test_event_times_out_of_range_and_from_the_future_are_dead_letters(tmp_path, monkeypatch):
    path = tmp_path / "orders.jsonl"
    lines = jsonl(
        path,
        order("o1"),
        order("o2", event_time=10 ** 20),
        order("o3", event_time=2 ** 63 - 1),
        order("o4", event_time=-1),
        order("o5", event_time=1e20),
        order("o6", event_time=NOW_MS + 2 * HOUR_MS),
        order("o7", event_time=32_503_680_000_000),  # 3000-01-01
        order("o8", event_time=NOW_MS + HOUR_MS // 2),  # within the skew: counted
        order("o9", event_time=253_402_300_799_999 + 1),
    )
    counts, dead_letters, summary = every_plan(path, tmp_path, monkeypatch)
    at = offsets(lines)
    out_of_range = [f"event_time out of range: {v} is not in {EVENT_TIME_RANGE}" for v in (10 ** 20, 2 ** 63 - 1, -1)]
    assert dead_letters == [
        {"record": lines[1].decode(), "error": out_of_range[0], "origin": f"{path}@{at[1]}"},
        {"record": lines[2].decode(), "error": out_of_range[1], "origin": f"{path}@{at[2]}"},
        {"record": lines[3].decode(), "error": out_of_range[2], "origin": f"{path}@{at[3]}"},
        {"record": lines[4].decode(), "error": "field event_time must be integer epoch milliseconds, got float",
         "origin": f"{path}@{at[4]}"},
        {"record": lines[5].decode(), "error": TOO_FAR_AHEAD, "origin": f"{path}@{at[5]}"},
        {"record": lines[6].decode(), "error": TOO_FAR_AHEAD, "origin": f"{path}@{at[6]}"},
        {"record": lines[8].decode(), "error": f"event_time out of range: 253402300800000 is not in {EVENT_TIME_RANGE}",
         "origin": f"{path}@{at[8]}"},
    ]
    soon = NOW_MS + HOUR_MS // 2
    assert counts == {f"eu:{T0}": 1, f"eu:{soon - soon % 60_000}": 1}
    assert (summary["records_in"], summary["counted"], summary["dead_letters"]) == (9, 2, 7)


def test_the_skew_is_a_flag_and_its_value_is_in_the_reason(tmp_path):
    path = tmp_path / "orders.jsonl"
    lines = jsonl(path, order("o1", event_time=NOW_MS + HOUR_MS // 2), order("o2"))
    counts, dead_letters, _ = kappa_run(path, tmp_path / "out", "--max-event-time-skew", "10m")
    assert counts == {f"eu:{T0}": 1} and dead_letters == [{
        "record": lines[0].decode(), "origin": f"{path}@0",
        "error": "event_time too far ahead: more than 10m after the wall clock when read"}]


@pytest.mark.parametrize("value,message", [
    ("0s", "kappa: error: --max-event-time-skew must be positive, got 0s"),
    ("-1h", "kappa: error: --max-event-time-skew must be positive, got -1h"),
    ("1", "kappa: error: --max-event-time-skew: bad duration '1': use a whole number with a unit, e.g. 500ms, 60s, "
          "5m, 1h"),
    ("366d", "kappa: error: --max-event-time-skew must be at most 365d, got 366d"),
])
def test_a_bad_skew_is_a_usage_error(value, message, tmp_path, capsys):
    path = tmp_path / "orders.jsonl"
    jsonl(path, order())
    assert usage_error(capsys, "run", "orders-per-minute", "--input", path, "--output", tmp_path / "out",
                       f"--max-event-time-skew={value}") == message


def test_the_kafka_decoder_refuses_the_same_event_times():
    decode = Decoder("order", OrderParser())
    for value in (10 ** 20, 2 ** 63 - 1, -1):
        reason = f"event_time out of range: {value} is not in {EVENT_TIME_RANGE}"
        as_json = json.dumps(order(event_time=value)).encode()
        assert decode(as_json) == DeadLetter(as_json, reason)
        if 0 <= value < 2 ** 63:  # what an Avro long holds reaches the contract as it was written
            as_avro = Encoder("order", ValueFormat.AVRO)(order(event_time=value))
            assert decode(as_avro) == DeadLetter(as_avro, reason)
    ahead = Encoder("order", ValueFormat.AVRO)(order(event_time=NOW_MS + 2 * HOUR_MS))
    assert decode(ahead) == DeadLetter(ahead, TOO_FAR_AHEAD)
    assert decode(Encoder("order", ValueFormat.AVRO)(order(event_time=NOW_MS))) == Order("o1", "eu", 1.0, NOW_MS)


def test_the_future_guard_moves_with_the_wall_clock():
    """A long-running job: what was too far ahead when first read is an order once its time has come,
    though the parser was built (and its limit first taken) long before."""
    clock = [1_000.0]
    parser = OrderParser(60_000, clock=lambda: clock[0])
    decode = Decoder("order", parser)
    value = json.dumps(order(event_time=1_000_000 + 61_000)).encode()
    assert decode(value).error == "event_time too far ahead: more than 1m after the wall clock when read"
    clock[0] += 2.0
    assert decode(value) == Order("o1", "eu", 1.0, 1_061_000)


INVALID_UTF8 = [
    b'{"order_id": "o2", "region": "eu-\xffwest", "amount": 1.0, "event_time": %d}' % T0,
    b'{"order_id": "o3\xc3", "region": "eu", "amount": 1.0, "event_time": %d}' % T0,
    b'{"order_id": "o4", "region": "\xe2\x82", "amount": 1.0, "event_time": %d}' % T0,
]


def base64_of(raw: bytes) -> str:
    return "base64:" + base64.b64encode(raw).decode()


def invalid_utf8_file(tmp_path):
    path = tmp_path / "orders.jsonl"
    lines = jsonl(path, order("o1"), *INVALID_UTF8, order("o5"))
    at = offsets(lines)
    expected = [
        {"record": base64_of(INVALID_UTF8[0]), "error": "invalid UTF-8: byte 0xff at position 33 (invalid start byte)",
         "origin": f"{path}@{at[1]}"},
        {"record": base64_of(INVALID_UTF8[1]), "error": "invalid UTF-8: byte 0xc3 at position 16 (invalid "
                                                        "continuation byte)", "origin": f"{path}@{at[2]}"},
        {"record": base64_of(INVALID_UTF8[2]), "error": "invalid UTF-8: byte 0xe2 at position 30 (invalid "
                                                        "continuation byte)", "origin": f"{path}@{at[3]}"},
    ]
    return path, expected


def test_invalid_utf8_lines_are_dead_letters_with_their_bytes(tmp_path, monkeypatch):
    path, expected = invalid_utf8_file(tmp_path)
    counts, dead_letters, summary = every_plan(path, tmp_path, monkeypatch)
    assert dead_letters == expected
    assert counts == {f"eu:{T0}": 2} and (summary["records_in"], summary["dead_letters"]) == (5, 3)


def test_invalid_utf8_lines_in_session_windows(tmp_path):
    path, expected = invalid_utf8_file(tmp_path)
    counts, dead_letters, _ = kappa_run(path, tmp_path / "out", "--window-kind", "session", "--gap", "5m")
    assert dead_letters == expected and counts == {f"eu:{T0}": 2}


def test_invalid_utf8_lines_in_replay(tmp_path):
    path, expected = invalid_utf8_file(tmp_path)
    counts, dead_letters, _ = kappa_run(path, tmp_path / "out", "--mode", "replay")
    assert dead_letters == expected and counts == {f"eu:{T0}": 2}


def test_kafka_json_values_are_utf8_as_json_lines_are():
    decode = Decoder("order", OrderParser())
    assert decode(INVALID_UTF8[0]) == DeadLetter(INVALID_UTF8[0],
                                                 "invalid UTF-8: byte 0xff at position 33 (invalid start byte)")
    assert decode(b"\xef\xbb\xbf" + json.dumps(order()).encode()) == Order("o1", "eu", 1.0, T0)
    assert decode(json.dumps(order(region=" eu ")).encode()) == Order("o1", "eu", 1.0, T0)


def test_a_byte_order_mark_before_the_first_line_is_skipped(tmp_path, monkeypatch):
    path = tmp_path / "orders.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"".join(json.dumps(order(f"o{i}")).encode() + b"\r\n" for i in range(3)))
    counts, dead_letters, summary = every_plan(path, tmp_path, monkeypatch)
    assert counts == {f"eu:{T0}": 3} and dead_letters == [] and summary["records_in"] == 3


def test_text_fields_are_normalised_and_invisible_characters_refused(tmp_path, monkeypatch):
    path = tmp_path / "orders.jsonl"
    lines = jsonl(
        path,
        order("o1", "eu-west"),
        order("o2", " eu-west"),
        order("o3", "eu-west\t "),
        order(" o1 ", "eu-west"),  # the same order id, redelivered with spaces: counted once
        order("o4", "eu\u200bwest"),
        order("o5", "\u200beu-west"),
        order("o6", "eu-west\u2028x"),
        order("o7\u0000", "eu-west"),
        order("o8", "S\u0061\u0301o Paulo"),  # decomposed: NFC makes it the precomposed region
        order("o9", "S\u00e1o Paulo"),
        order("o10", "\ud800"),
        order("o11", " \u00a0 "),
    )
    counts, dead_letters, summary = every_plan(path, tmp_path, monkeypatch)
    at = offsets(lines)

    def dead(i, error):
        return {"record": lines[i].decode(), "error": error, "origin": f"{path}@{at[i]}"}

    assert dead_letters == [
        dead(4, "field region contains an invisible character U+200B"),
        dead(5, "field region contains an invisible character U+200B"),
        dead(6, "field region contains an invisible character U+2028"),
        dead(7, "field order_id contains an invisible character U+0000"),
        dead(10, "field region contains an unpaired surrogate U+D800"),
        dead(11, "field region is empty"),
    ]
    assert counts == {f"eu-west:{T0}": 3, f"S\u00e1o Paulo:{T0}": 2}
    assert (summary["records_in"], summary["counted"], summary["duplicates"], summary["dead_letters"]) == (12, 5, 1, 6)


def avro_file(path, records, schema_version=2, sync_interval=16_000, codec="null"):
    schema = SchemaRegistry().get("order", schema_version)
    with open(path, "wb") as out:
        fastavro.writer(out, schema, records, codec=codec, sync_interval=sync_interval)


def avro_origins(path):
    """`path@block#index` of every record, from fastavro's own reading of the blocks."""
    with open(path, "rb") as fileobj:
        return [f"{path}@{block.offset}#{i}" for block in fastavro.block_reader(fileobj) for i in range(block.num_records)]


def test_avro_dead_letters_name_their_block_and_index(tmp_path, monkeypatch):
    path = tmp_path / "orders.avro"
    records = [order(f"o{i}") for i in range(40)]
    bad = {5: dict(records[5], region=""), 17: dict(records[17], event_time=2 ** 63 - 1),
           23: dict(records[23], order_id=" "), 31: dict(records[31], region="eu\u200b"),
           36: dict(records[36], event_time=NOW_MS + 2 * HOUR_MS)}
    records = [bad.get(i, r) for i, r in enumerate(records)]
    avro_file(path, records, sync_interval=100)
    origins = avro_origins(path)
    assert len(set(o.split("#")[0] for o in origins)) > 5  # several blocks, so splits fall between them
    counts, dead_letters, summary = every_plan(path, tmp_path, monkeypatch)
    errors = {5: "field region is empty", 17: f"event_time out of range: {2 ** 63 - 1} is not in {EVENT_TIME_RANGE}",
              23: "field order_id is empty", 31: "field region contains an invisible character U+200B",
              36: TOO_FAR_AHEAD}
    assert dead_letters == sorted(({"record": dict(records[i], currency="EUR", customer_id=None), "error": errors[i],
                                    "origin": origins[i]} for i in bad), key=by_origin)
    assert counts == {f"eu:{T0}": 35} and summary["records_in"] == 40


def truncated_avro(tmp_path):
    whole, path = tmp_path / "whole.avro", tmp_path / "truncated.avro"
    avro_file(whole, [order(f"o{i}") for i in range(200)], sync_interval=200)
    with open(whole, "rb") as fileobj:
        blocks = [(block.offset, block.num_records) for block in fastavro.block_reader(fileobj)]
    cut_block = len(blocks) // 2
    path.write_bytes(whole.read_bytes()[:blocks[cut_block][0] + 5])
    os.remove(whole)
    kept = sum(n for _, n in blocks[:cut_block])
    return path, kept, f"{path}@{blocks[cut_block][0]}"


def test_a_truncated_avro_file_keeps_its_whole_blocks_and_names_where_it_broke(tmp_path, monkeypatch):
    path, kept, origin = truncated_avro(tmp_path)
    counts, [dead], summary = every_plan(path, tmp_path, monkeypatch)
    assert dead == {"record": str(path), "error": "unreadable Avro file: EOFError: Expected 212 bytes, read 2",
                    "origin": origin}
    assert counts == {f"eu:{T0}": kept} and summary["records_in"] == kept + 1


@pytest.mark.parametrize("flags", [(), ("--input-format", "avro")])
def test_a_truncated_avro_file_in_replay(tmp_path, flags):
    path, kept, origin = truncated_avro(tmp_path)
    counts, dead_letters, _ = kappa_run(path, tmp_path / "out", "--mode", "replay", *flags)
    assert dead_letters == [{"record": str(path), "error": "unreadable Avro file: EOFError: Expected 212 bytes, read 2",
                             "origin": origin}]
    assert counts == {f"eu:{T0}": kept}


NOT_AN_ARCHIVE = "not an Avro container, and not named .jsonl, .json or .ndjson"


def gzipped(path, data: bytes):
    path.write_bytes(gzip.compress(data, mtime=0))


def test_a_folder_mixing_formats_reads_each_file_in_its_own_and_reports_what_it_skipped(
        tmp_path, monkeypatch, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    avro_file(folder / "a.avro", [order("o1"), order("o2"), order("o3")])
    jsonl_lines = jsonl(folder / "b.jsonl", order("o4"), b"not json", order("o5"))
    avro_file(folder / "c.data", [order("o6")], schema_version=1)  # Avro by its magic bytes, whatever its name
    gz_lines = [json.dumps(order("o7")).encode(), b"{}", json.dumps(order("o8")).encode()]
    gzipped(folder / "d.jsonl.gz", b"\n".join(gz_lines) + b"\n")
    avro_file(tmp_path / "e.avro", [order("o9")])
    gzipped(folder / "e.avro.gz", (tmp_path / "e.avro").read_bytes())
    jsonl(folder / "f.ndjson", order("o10"))
    jsonl(folder / "g.json", order("o11"))
    (folder / "notes.txt").write_text(json.dumps(order("o99")) + "\n")
    gzipped(folder / "h.gz", b"some text\n")
    jsonl(folder / ".hidden.jsonl", order("o98"))
    (folder / "sub").mkdir()
    jsonl(folder / "sub" / "nested.jsonl", order("o97"))
    os.symlink("loop", folder / "loop")
    os.symlink("missing.jsonl", folder / "broken.jsonl")

    counts, dead_letters, summary = every_plan(folder, tmp_path, monkeypatch)
    assert counts == {f"eu:{T0}": 11}
    assert dead_letters == [
        {"record": "not json", "error": "bad JSON: Expecting value: line 1 column 1 (char 0)",
         "origin": f"{folder / 'b.jsonl'}@{offsets(jsonl_lines)[1]}"},
        {"record": "{}", "error": "missing field order_id", "origin": f"{folder / 'd.jsonl.gz'}@{offsets(gz_lines)[1]}"},
    ]
    assert (summary["records_in"], summary["dead_letters"]) == (13, 2)
    assert summary["skipped_files"] == {"count": 6, "first": [
        {"path": str(folder / ".hidden.jsonl"), "reason": "hidden file"},
        {"path": str(folder / "broken.jsonl"), "reason": "broken symbolic link"},
        {"path": str(folder / "h.gz"), "reason": NOT_AN_ARCHIVE + " (gzip)"},
        {"path": str(folder / "loop"), "reason": "symbolic link loop"},
        {"path": str(folder / "notes.txt"), "reason": NOT_AN_ARCHIVE},
    ]}
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  skipped")]
    assert printed == [f"  skipped                 6 files: {folder / '.hidden.jsonl'} (hidden file); "
                       f"{folder / 'broken.jsonl'} (broken symbolic link); {folder / 'h.gz'} ({NOT_AN_ARCHIVE} (gzip)); "
                       f"{folder / 'loop'} (symbolic link loop); {folder / 'notes.txt'} ({NOT_AN_ARCHIVE}); ..."] * 4


def test_input_format_forces_one_format_on_every_file(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.txt").write_text(json.dumps(order("o1")) + "\n")
    avro_file(folder / "a.avro", [order("o2")])
    counts, dead_letters, summary = kappa_run(folder, tmp_path / "out", "--input-format", "jsonl")
    assert counts == {f"eu:{T0}": 1} and summary["skipped_files"] == {"count": 0, "first": []}
    assert summary["records_in"] == summary["dead_letters"] + 1 == len(dead_letters) + 1
    assert {d["origin"].rpartition("@")[0] for d in dead_letters} == {str(folder / "a.avro")}


def test_a_truncated_gzip_file_keeps_its_lines_and_is_one_dead_letter(tmp_path, monkeypatch):
    path = tmp_path / "orders.jsonl.gz"
    data = gzip.compress(b"".join(json.dumps(order(f"o{i}")).encode() + b"\n" for i in range(2000)), mtime=0)
    path.write_bytes(data[: len(data) // 2])
    counts, dead_letters, summary = every_plan(path, tmp_path, monkeypatch)
    assert dead_letters == [{"record": str(path), "origin": str(path), "error": "unreadable gzip file: EOFError: "
                             "Compressed file ended before the end-of-stream marker was reached"}]
    assert 0 < counts[f"eu:{T0}"] < 2000 and summary["records_in"] == counts[f"eu:{T0}"] + 1


def test_an_input_with_no_file_to_read_is_a_usage_error(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello\n")
    (folder / "sub").mkdir()
    assert usage_error(capsys, "run", "orders-per-minute", "--input", folder, "--output", tmp_path / "out") == (
        f"kappa: error: input folder '{folder}' has no files to read "
        f"(2 skipped; {folder / 'notes.txt'}: {NOT_AN_ARCHIVE})")
    assert usage_error(capsys, "run", "orders-per-minute", "--input", folder / "notes.txt",
                       "--output", tmp_path / "out") == (
        f"kappa: error: input file '{folder / 'notes.txt'}' has no files to read "
        f"(1 skipped; {folder / 'notes.txt'}: {NOT_AN_ARCHIVE})")
    assert usage_error(capsys, "run", "orders-per-minute", "--input", f"{folder}/*", "--output", tmp_path / "out") == (
        f"kappa: error: input glob '{folder}/*' has no files to read "
        f"(2 skipped; {folder / 'notes.txt'}: {NOT_AN_ARCHIVE})")


def kappa_without_privileges(*argv):
    """`kappa ...` in a process of its own to which permission bits apply -> (exit status, stderr)."""
    done = subprocess.run([sys.executable, "-m", "kappa.runners.cli", *map(str, argv)], capture_output=True, text=True,
                          preexec_fn=unprivileged())
    return done.returncode, done.stderr


@pytest.fixture
def permission_bits_apply(tmp_path):
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0o000)
    try:
        code, err = kappa_without_privileges("pipelines")
        readable = subprocess.run([sys.executable, "-c", f"open({str(probe)!r}).read()"], capture_output=True,
                                  preexec_fn=unprivileged())
    except (OSError, subprocess.SubprocessError) as err:
        pytest.skip(f"cannot start a process without the permission override: {err}")
    if code != 0 or readable.returncode == 0:
        pytest.skip(f"permission bits do not apply to a child process here: {err.strip().splitlines()[-1:]}")


def test_unreadable_inputs_are_usage_errors_before_the_job(tmp_path, permission_bits_apply):
    out = tmp_path / "out"
    secret = tmp_path / "secret.jsonl"
    jsonl(secret, order())
    secret.chmod(0o000)
    unlisted = tmp_path / "unlisted"
    unlisted.mkdir()
    jsonl(unlisted / "a.jsonl", order())
    unlisted.chmod(0o300)  # can be entered, not listed
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    jsonl(mixed / "a.jsonl", order())
    jsonl(mixed / "b.jsonl", order())
    (mixed / "b.jsonl").chmod(0o000)
    try:
        for input_path, message in (
                (secret, f"input file '{secret}' is not readable: Permission denied"),
                (unlisted, f"input folder '{unlisted}' is not readable: Permission denied"),
                (mixed, f"input file '{mixed / 'b.jsonl'}' is not readable: Permission denied")):
            code, err = kappa_without_privileges("run", "orders-per-minute", "--input", input_path, "--output", out)
            assert (code, err) == (2, f"kappa: error: {message}\n")
            assert not (out / "summary.json").exists()
    finally:
        unlisted.chmod(0o700)
