"""`make bench` itself, at a small size: the contenders it compares must keep agreeing, or its ratios
compare different jobs."""
import json

import pytest

from kappa.benchmarks import fraud, memory, run, surge, viewers


def test_contenders_agree_with_the_limit_on_every_window(tmp_path, capsys):
    assert run.main(["--events", "3000", "--repeat", "1", "--only", "stock-beam,kappa-per-element,kappa-backfill",
                     "--workdir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())["3000"]
    assert [row["contender"] for row in results["rows"]] == ["limit", "stock-beam", "kappa-per-element", "kappa-backfill"]
    assert results["records"] == 3020  # the seeded archive's 3,000 orders and 20 redeliveries
    assert "all 4 contenders agree on every window count" in capsys.readouterr().out


def test_peak_memory_counts_the_children_a_contender_starts():
    hold = "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep(1)"
    parent = f"import subprocess; subprocess.run(['python3', '-c', {hold!r}])"
    done, peak_mb = memory.run_measured(["python3", "-c", parent])
    assert done.returncode == 0
    assert 200 < peak_mb < 300


def test_the_kafka_streams_peer_runs_beside_the_limit_and_its_drops_add_up(tmp_path, capsys):
    """Which records the peer drops depends on how its threads interleave (the point of the
    comparison), so what is pinned is that every valid record is counted or dropped, and says so."""
    assert run.main(["--events", "3000", "--repeat", "1", "--only", "kafka-streams", "--workdir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())["3000"]
    assert [row["contender"] for row in results["rows"]] == ["limit", "kafka-streams"]
    peer = results["rows"][1]["backlog"]
    assert (peer["records"], peer["records_valid"], peer["malformed"]) == (3020, 3020, 0)
    assert peer["windows_total"] == results["windows"] == 455
    assert peer["records_counted"] + peer["dropped_late"] == 3020
    assert peer["dropped_late_by_difference"] == peer["dropped_late"]
    out = capsys.readouterr().out
    assert "the same backlog of 3,020 records in Kafka (4 partitions), read to lag 0:" in out
    assert "all 1 contenders agree on every window count (kafka-streams compared above, not checked)" in out


def test_fraud_backfill_agrees_with_its_limit_on_every_scored_record(tmp_path, capsys):
    assert fraud.main(["--payments", "3000", "--repeat", "1", "--only", "kappa-backfill", "--workdir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "fraud-scoring-results.json").read_text())["3000"]
    assert results["records"] == 5_256  # the seeded archive's payments and logins, redeliveries and malformed
    limit, backfill = results["rows"]
    assert (limit["contender"], backfill["contender"]) == ("limit", "kappa-backfill")
    assert limit["written"] == backfill["written"] == 2_980
    assert limit["digest"] == backfill["digest"]
    assert "all 2 fraud-scoring contenders agree on every record written" in capsys.readouterr().out


@pytest.mark.parametrize("bench, size_flag, records, written", [(viewers, "--heartbeats", 3_033, 1_635),
                                                                 (surge, "--events", 3_026, 2_126)],
                         ids=["concurrent-viewers", "surge-pricing"])
def test_backfill_agrees_with_its_limit_on_every_record_written(bench, size_flag, records, written, tmp_path, capsys):
    """`written`: every output's records (viewers: minutes and sessions) of the seeded archive."""
    assert bench.main([size_flag, "3000", "--repeat", "1", "--only", "kappa-backfill", "--workdir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / f"{bench.BENCH.pipeline}-results.json").read_text())["3000"]
    assert results["records"] == records  # with redeliveries and malformed records
    limit, backfill = results["rows"]
    assert (limit["contender"], backfill["contender"]) == ("limit", "kappa-backfill")
    assert limit["written"] == backfill["written"] == written
    assert limit["digest"] == backfill["digest"]
    assert f"all 2 {bench.BENCH.pipeline} contenders agree on every record written" in capsys.readouterr().out
