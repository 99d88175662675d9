"""The concurrent-viewers data side: the generated heartbeat archives, read with the heartbeat contract,
and the session patterns they hold."""
import collections
import itertools
import os
import sys

import pytest

from kappa.io import generate_viewers
from kappa.io.contracts import contract
from kappa.runners import cli
from tests import generated_files

CONFIG = generate_viewers.ViewersConfig(heartbeats=6_000, hours=2, seed=11, duplicate_rate=0.02, malformed=12)
GAP = 90_000  # concurrent-viewers' session gap


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewers")
    written = {fmt: generate_viewers.write_viewers_archive(CONFIG, str(root / fmt), fmt) for fmt in ("jsonl", "avro")}
    return root, written


def _files(root, fmt):
    return generated_files.files(root, fmt)


def _parsed(raw):
    return generated_files.parsed(raw, "heartbeat")


def _heartbeats(root, fmt="jsonl"):
    return [h for path in _files(root, fmt) for h in _parsed(generated_files.raw(path)) if h is not None]


def _sessions(heartbeats):
    """(viewer_id, show_id) -> its sessions, each the sorted distinct heartbeat times of one session."""
    times = collections.defaultdict(set)
    for h in heartbeats:
        times[(h.viewer_id, h.show_id)].add(h.event_time)
    sessions = {}
    for key, distinct in times.items():
        ordered = sorted(distinct)
        splits = [i for i in range(1, len(ordered)) if ordered[i] - ordered[i - 1] >= GAP]
        sessions[key] = [ordered[a:b] for a, b in zip([0] + splits, splits + [len(ordered)])]
    return sessions


def test_same_seed_same_bytes_whatever_the_hash_seed(archives, tmp_path):
    root, _ = archives
    script = ("import sys; from kappa.io import generate_viewers as g; "
              "[g.write_viewers_archive(g.ViewersConfig(heartbeats=6_000, hours=2, seed=11, duplicate_rate=0.02, "
              "malformed=12), sys.argv[1] + '/' + fmt, fmt) for fmt in sys.argv[2:]]")
    generated_files.assert_same_bytes_whatever_the_hash_seed(script, root, tmp_path)


def test_archive_counts_and_files(archives):
    root, written = archives
    for fmt, archive in written.items():
        assert (archive.records, archive.duplicates, archive.malformed) == (6_118, 118, 12)
        assert [os.path.basename(f) for f in archive.files] == [f"heartbeats-20261127-0{h}.{fmt}" for h in range(3)]
        assert archive.files == _files(root, fmt)


def test_every_record_parses_but_the_malformed_and_both_formats_carry_the_same(archives):
    root, written = archives
    for jsonl, avro in zip(_files(root, "jsonl"), _files(root, "avro")):
        assert _parsed(generated_files.raw(jsonl)) == _parsed(generated_files.raw(avro))
    for fmt in written:
        parsed = [h for path in _files(root, fmt) for h in _parsed(generated_files.raw(path))]
        assert parsed.count(None) == written[fmt].malformed == 12
    broken = [generated_files.json_or_none(line) for path in _files(root, "jsonl") for line, h in zip(generated_files.raw(path), _parsed(generated_files.raw(path)))
              if h is None]
    assert None in broken and any(isinstance(r, dict) for r in broken)  # bad JSON, and contract breaks


def test_redeliveries_are_identical_and_heartbeat_times_distinct(archives):
    root, written = archives
    for fmt in written:
        heartbeats = _heartbeats(root, fmt)
        copies = collections.Counter(heartbeats)
        assert sum(n - 1 for n in copies.values()) == written[fmt].duplicates
        assert len(copies) == CONFIG.heartbeats - CONFIG.malformed
        start, end = CONFIG.start_ms, CONFIG.start_ms + CONFIG.hours * 3_600_000
        assert all(start <= h.event_time < end for h in copies)


def test_sessions_hold_every_pattern(archives):
    root, _ = archives
    sessions = _sessions(_heartbeats(root))
    within = [b - a for parts in sessions.values() for times in parts for a, b in zip(times, times[1:])]
    holes = collections.Counter("beat" if d <= 33_000 else "dropped" if d <= 66_000 else "other" for d in within)
    # other: a malformed heartbeat beside a dropped one, a hole of three beats that stays below the gap
    assert min(within) >= 27_000 and holes == {"beat": 5_694, "dropped": 122, "other": 1}
    paused = [key for key, parts in sessions.items() if len(parts) > 1]
    singles = [key for key, parts in sessions.items() for times in parts if len(times) == 1]
    assert (len(sessions), sum(map(len, sessions.values())), len(paused), len(singles)) == (149, 171, 19, 19)
    by_viewer = collections.defaultdict(list)
    for (viewer, show), parts in sessions.items():
        by_viewer[viewer] += [(times[0], times[-1], show) for times in parts]
    switches = sum(1 for plays in by_viewer.values() for (_, last, show), (first, _, other)
                   in itertools.pairwise(sorted(plays)) if show != other and 0 < first - last < 30_000)
    assert switches == 15


def test_kappa_generate_viewers_writes_the_same_archive(archives, tmp_path, capsys):
    root, _ = archives
    assert cli.main(["generate", "viewers", "--output", str(tmp_path / "jsonl"), "--format", "jsonl", "--events",
                     "6000", "--hours", "2", "--seed", "11", "--duplicate-rate", "0.02", "--malformed", "12"]) == 0
    assert capsys.readouterr().out == ("generated 6,118 heartbeat records (6,000 distinct, 118 redelivered, 12 "
                                       f"malformed) in 3 jsonl files under {tmp_path / 'jsonl'}\n")
    assert [open(f, "rb").read() for f in _files(tmp_path, "jsonl")] == [
        open(f, "rb").read() for f in _files(root, "jsonl")]


@pytest.mark.parametrize("argv,message", [
    (["--events", "0"], "--events and --hours must be positive"),
    (["--events", "10", "--malformed", "11"], "--malformed must be from 0 to --events (10), got 11"),
    (["--format", "csv"], "argument --format: invalid choice: 'csv' (choose from 'jsonl', 'avro')"),
])
def test_kappa_generate_viewers_bad_flags_are_one_line_and_exit_2(argv, message, tmp_path, capsys):
    assert cli.main(["generate", "viewers", "--output", str(tmp_path / "never"), *argv]) == 2
    assert capsys.readouterr().err == f"kappa: error: {message}\n"
    assert not (tmp_path / "never").exists()


def test_arrivals_keep_within_max_delay_and_are_out_of_event_time_order(tmp_path):
    capped = generate_viewers.ViewersConfig(heartbeats=3_000, hours=1, seed=3, straggler_rate=0.05,
                                            duplicate_rate=0.05, max_delay_ms=1_500)
    uncapped = generate_viewers.ViewersConfig(heartbeats=3_000, hours=1, seed=3, straggler_rate=0.05,
                                              duplicate_rate=0.05)
    for config, longest in ((capped, 1_500), (uncapped, 177_674)):
        arrived = generate_viewers.viewers_arrivals(config, as_text=False)
        delays = [arrival - record["event_time"] for arrival, record in arrived.timed]
        assert min(delays) >= 0 and max(delays) == longest
        assert [a for a, _ in arrived.timed] == sorted(a for a, _ in arrived.timed)
    generate_viewers.write_viewers_archive(capped, str(tmp_path / "jsonl"), "jsonl")
    times = [h.event_time for h in _heartbeats(tmp_path)]
    assert all(t >= latest - 1_500 for t, latest in zip(times, itertools.accumulate(times, max)))
    assert times != sorted(times)
