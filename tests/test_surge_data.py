"""The surge-pricing data side: the generated request and driver archives, read with their contracts,
and the prices a plain-Python computation of surge-pricing's windows gives them."""
import collections
import itertools
import os
import sys

import pytest

from kappa.io import generate_surge
from kappa.io.contracts import contract
from kappa.runners import cli
from tests import generated_files

CONFIG = generate_surge.SurgeConfig(events=20_000, hours=2, seed=11, duplicate_rate=0.02, malformed=12)
STREAMS = generate_surge.STREAMS  # stream -> subject
MINUTE, WINDOW = 60_000, 300_000  # surge-pricing's windows: 5 minutes, every minute


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("surge")
    written = {fmt: generate_surge.write_surge_archive(CONFIG, str(root / fmt), fmt) for fmt in ("jsonl", "avro")}
    return root, written


def _files(root, fmt, stream):
    return generated_files.files(root, fmt, stream)


def _parsed(raw, stream):
    return generated_files.parsed(raw, STREAMS[stream])


def _valid(root, stream, fmt="jsonl"):
    return [r for path in _files(root, fmt, stream) for r in _parsed(generated_files.raw(path), stream) if r is not None]


def surge(requests, locations):
    """(cell, window_start) -> (demand, supply, multiplier_tenths) of every window with a request or an
    available driver, as surge-pricing defines them."""
    demand, supply = collections.defaultdict(set), collections.defaultdict(set)
    for records, counted, who in ((requests, demand, "request_id"), (locations, supply, "driver_id")):
        for r in records:
            if who == "request_id" or r.status == "available":
                last = r.event_time // MINUTE * MINUTE
                for start in range(last - WINDOW + MINUTE, last + 1, MINUTE):
                    counted[(r.cell, start)].add(getattr(r, who))
    return {key: (len(demand[key]), len(supply[key]),
                  min(30, max(10, (10 * len(demand[key])) // max(len(supply[key]), 1))))
            for key in demand.keys() | supply.keys()}


def test_same_seed_same_bytes_whatever_the_hash_seed(archives, tmp_path):
    root, _ = archives
    script = ("import sys; from kappa.io import generate_surge as g; "
              "[g.write_surge_archive(g.SurgeConfig(events=20_000, hours=2, seed=11, duplicate_rate=0.02, "
              "malformed=12), sys.argv[1] + '/' + fmt, fmt) for fmt in sys.argv[2:]]")
    generated_files.assert_same_bytes_whatever_the_hash_seed(script, root, tmp_path, STREAMS)


def test_archive_counts_and_files(archives):
    root, written = archives
    for fmt, archive in written.items():
        assert (archive.requests.records, archive.requests.duplicates, archive.requests.malformed) == (682, 18, 12)
        assert (archive.drivers.records, archive.drivers.duplicates, archive.drivers.malformed) == (19_696, 360, 12)
        assert sum(s.records - s.duplicates for s in (archive.requests, archive.drivers)) == CONFIG.events
        for stream, hours in (("requests", 2), ("drivers", 3)):
            files = getattr(archive, stream).files
            assert [os.path.basename(f) for f in files] == [f"{stream}-20261127-0{h}.{fmt}" for h in range(hours)]
            assert files == _files(root, fmt, stream)


def test_every_record_parses_but_the_malformed_and_both_formats_carry_the_same(archives):
    root, written = archives
    for stream in STREAMS:
        for jsonl, avro in zip(_files(root, "jsonl", stream), _files(root, "avro", stream)):
            assert _parsed(generated_files.raw(jsonl), stream) == _parsed(generated_files.raw(avro), stream)
        for fmt in written:
            parsed = [r for path in _files(root, fmt, stream) for r in _parsed(generated_files.raw(path), stream)]
            assert parsed.count(None) == getattr(written[fmt], stream).malformed == 12
        broken = [generated_files.json_or_none(line) for path in _files(root, "jsonl", stream)
                  for line, r in zip(generated_files.raw(path), _parsed(generated_files.raw(path), stream)) if r is None]
        assert None in broken and any(isinstance(r, dict) for r in broken)  # bad JSON, and contract breaks


def test_redeliveries_are_identical_and_events_distinct(archives):
    root, written = archives
    for fmt in written:
        distinct = 0
        for stream in STREAMS:
            copies = collections.Counter(_valid(root, stream, fmt))
            assert sum(n - 1 for n in copies.values()) == getattr(written[fmt], stream).duplicates
            distinct += len(copies)
        assert distinct == CONFIG.events - 2 * CONFIG.malformed
        requests = _valid(root, "requests", fmt)
        assert len({r.request_id for r in requests}) == len(set(requests))


def test_drivers_report_every_20_to_40_s_move_to_neighbours_and_go_offline_last(archives):
    root, _ = archives
    locations = sorted(set(_valid(root, "drivers")), key=lambda r: (r.driver_id, r.event_time))
    place = {name: divmod(int(name.rsplit("-", 1)[1]), generate_surge.GRID) for name in {r.cell for r in locations}}
    longer = []  # where a malformed report is missing
    for _, reports in itertools.groupby(locations, key=lambda r: r.driver_id):
        reports = list(reports)
        assert all(r.status != "offline" for r in reports[:-1])
        for a, b in zip(reports, reports[1:]):
            if b.event_time - a.event_time >= 40_000:
                longer.append(b.event_time - a.event_time)
                continue
            assert b.event_time - a.event_time >= 20_000
            (row, column), (next_row, next_column) = place[a.cell], place[b.cell]
            assert abs(next_row - row) <= 1 and abs(next_column - column) <= 1  # the same cell or a neighbour
    assert len(longer) <= CONFIG.malformed and all(gap < 80_000 for gap in longer)
    assert collections.Counter(r.status for r in locations) == {"available": 10_266, "busy": 9_019, "offline": 39}


def test_prices_reach_the_floor_the_cap_and_between(archives):
    root, _ = archives
    windows = surge(set(_valid(root, "requests")), set(_valid(root, "drivers")))
    tenths = collections.Counter(tenths for _, _, tenths in windows.values())
    assert tenths == {10: 10_117, 15: 8, 20: 229, 30: 88}
    assert sum(1 for demand, supply, _ in windows.values() if supply and not demand) == 7_907  # drivers only
    assert sum(1 for demand, supply, _ in windows.values() if demand and not supply) == 766  # demand only
    requests = _valid(root, "requests")
    assert len({r.rider_id for r in requests}) < len({r.request_id for r in requests})  # riders come back


def test_surge_of_hand_made_windows():
    """The computation these tests price archives with, on windows whose prices are known."""
    Request = contract("ride-request").record_type
    Location = contract("driver-location").record_type
    t = 1_795_737_600_000
    requests = [Request(f"r{i}", "u1", "c1", t + i * 1_000) for i in range(7)] + [Request("r9", "u2", "c2", t)]
    locations = [Location("d1", "c1", "available", t), Location("d2", "c1", "available", t + 30_000),
                 Location("d3", "c1", "busy", t), Location("d4", "c3", "available", t + 4 * MINUTE)]
    windows = surge(requests, locations)
    assert windows[("c1", t)] == (7, 2, 30) and windows[("c1", t - 4 * MINUTE)] == (7, 2, 30)
    assert ("c1", t + MINUTE) not in windows and ("c1", t - 5 * MINUTE) not in windows
    assert windows[("c2", t)] == (1, 0, 10) and windows[("c3", t + 4 * MINUTE)] == (0, 1, 10)
    assert surge(requests[:5], locations[:2])[("c1", t)] == (5, 2, 25)


def test_kappa_generate_surge_writes_the_same_archive(archives, tmp_path, capsys):
    root, _ = archives
    assert cli.main(["generate", "surge", "--output", str(tmp_path / "avro"), "--events", "20000", "--hours", "2",
                     "--seed", "11", "--duplicate-rate", "0.02", "--malformed", "12"]) == 0
    assert capsys.readouterr().out == (
        "generated 682 ride-request records (664 distinct, 18 redelivered, 12 malformed) in 2 avro files under "
        f"{tmp_path / 'avro' / 'requests'}\n"
        "generated 19,696 driver-location records (19,336 distinct, 360 redelivered, 12 malformed) in 3 avro files "
        f"under {tmp_path / 'avro' / 'drivers'}\n")
    for stream in STREAMS:
        assert [open(f, "rb").read() for f in _files(tmp_path, "avro", stream)] == [
            open(f, "rb").read() for f in _files(root, "avro", stream)]


@pytest.mark.parametrize("argv,message", [
    (["--hours", "0"], "--events and --hours must be positive"),
    (["--hours", "8785"], "--hours must be at most 8784 (366 days), got 8785"),
    (["--duplicate-rate", "1"], "--duplicate-rate must be in [0, 1)"),
])
def test_kappa_generate_surge_bad_flags_are_one_line_and_exit_2(argv, message, tmp_path, capsys):
    assert cli.main(["generate", "surge", "--output", str(tmp_path / "never"), *argv]) == 2
    assert capsys.readouterr().err == f"kappa: error: {message}\n"
    assert not (tmp_path / "never").exists()


def test_arrivals_keep_within_max_delay_and_are_out_of_event_time_order(tmp_path):
    capped = generate_surge.SurgeConfig(events=5_000, hours=1, seed=3, straggler_rate=0.05, duplicate_rate=0.05,
                                        max_delay_ms=1_500)
    uncapped = generate_surge.SurgeConfig(events=5_000, hours=1, seed=3, straggler_rate=0.05, duplicate_rate=0.05)
    for config, longest in ((capped, {"requests": 1_500, "drivers": 1_500}),
                            (uncapped, {"requests": 138_770, "drivers": 181_734})):
        for stream, arrived in generate_surge.surge_arrivals(config, as_text=False).items():
            delays = [arrival - record["event_time"] for arrival, record in arrived.timed]
            assert min(delays) >= 0 and max(delays) == longest[stream]
            assert [a for a, _ in arrived.timed] == sorted(a for a, _ in arrived.timed)
    generate_surge.write_surge_archive(capped, str(tmp_path / "jsonl"), "jsonl")
    for stream in STREAMS:
        times = [r.event_time for path in _files(tmp_path, "jsonl", stream) for r in _parsed(generated_files.raw(path), stream)
                 if r is not None]
        assert all(t >= latest - 1_500 for t, latest in zip(times, itertools.accumulate(times, max)))
        assert times != sorted(times)
