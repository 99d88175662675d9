"""`kappa stop` against a scripted Flink REST API: it returns once Flink lists the job FINISHED, and says
in one line, exit status 1, when the job does not get there."""
from typing import List, Optional

import pytest

from kappa.runners import cli
from kappa.services.flink_cluster import FlinkRest, FlinkRestError

JOB = {"jid": "j1", "name": "orders", "state": "RUNNING"}
LOCATION = "file:/savepoints/savepoint-j1"


class ScriptedRest(FlinkRest):
    """Answers each job-state request with the next of `states` (the last one from then on)."""

    states = ["FINISHED"]

    def __init__(self, address: str, states: Optional[List[str]] = None):
        super().__init__(address)
        self.calls: List[str] = []
        self.remaining = list(states or self.states)

    def _call(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        self.calls.append(f"{method} {path}")
        if path == "/jobs/overview":
            return {"jobs": [JOB]}
        if path == "/jobs/j1/stop":
            return {"request-id": "r1"}
        if path == "/jobs/j1/savepoints/r1":
            return {"status": {"id": "COMPLETED"}, "operation": {"location": LOCATION}}
        state = self.remaining.pop(0) if len(self.remaining) > 1 else self.remaining[0]
        return {"state": state}


def test_stop_returns_once_the_job_is_finished():
    rest = ScriptedRest("flink:8081", ["RUNNING", "RUNNING", "FINISHED"])
    assert rest.stop_with_savepoint("j1", "/savepoints") == LOCATION
    assert rest.calls == ["POST /jobs/j1/stop", "GET /jobs/j1/savepoints/r1"] + ["GET /jobs/j1"] * 3


@pytest.mark.parametrize("states, timeout_s, outcome", [
    (["RUNNING"], 0, "is still RUNNING after 0s"),
    (["RUNNING", "FAILED"], 60, "ended FAILED"),
])
def test_stop_says_when_the_job_does_not_finish(states, timeout_s, outcome):
    with pytest.raises(FlinkRestError) as failed:
        ScriptedRest("flink:8081", states).stop_with_savepoint("j1", "/savepoints", timeout_s)
    assert str(failed.value) == f"savepoint {LOCATION} written, but job j1 {outcome}, not FINISHED"


class StuckRest(ScriptedRest):
    states = ["RUNNING"]

    def stop_with_savepoint(self, job_id: str, target_dir: str, timeout_s: float = 0) -> str:
        return super().stop_with_savepoint(job_id, target_dir, timeout_s)


def test_kappa_stop_of_a_job_that_does_not_finish_fails_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(cli, "FlinkRest", StuckRest)
    assert cli.main(["stop", "orders", "--savepoint", "/savepoints", "--flink-master", "flink:8081"]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "", f"kappa: error: savepoint {LOCATION} written, but job j1 is still RUNNING after 0s, not FINISHED\n")
