"""`make bench` itself, at a small size: the contenders it compares must keep agreeing, or its ratios
compare different jobs."""
import json

from kappa.benchmarks import memory, run


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
