"""A Flink session cluster on loopback, from the `apache-flink` pip distribution, with a Beam SDK worker
pool beside its task manager, as on a production cluster.

    python -m kappa.services.flink_cluster up|down [--dir build/flink] [--rest-port 8081] [--rpc-port 6123]
                                                   [--worker-pool-port 50000]

Jobs reach it through Beam's job server and run their Python stages in the worker pool
(`--environment_type=EXTERNAL`), which must run the same Python environment as the submitter. The
distribution's version equals the Flink version of the job server (both pinned by `make deps`). The
REST API (`/jobs/overview`, stop-with-savepoint) is what `kappa stop` and the tests talk to.

Every endpoint listens on loopback (`flink-loopback/config.yaml`, `kappa.services.worker_pool`). The
ports with a fixed default can be chosen; the others (blob server, task manager RPC and data exchange,
metrics queries) are free ports the OS picks, so they never collide.
"""
import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from kappa.services import deps, process

# The Flink settings that bind every endpoint to loopback, for the session cluster and the embedded Flink.
LOOPBACK_CONF_DIR = Path(__file__).resolve().parent / "flink-loopback"
TERMINAL_STATES = ("FINISHED", "CANCELED", "FAILED")


def _flatten(tree: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class FlinkRestError(RuntimeError):
    pass


@dataclasses.dataclass
class FlinkRest:
    """The few calls of Flink's REST API that kappa needs."""

    address: str  # host:port

    def _call(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        request = urllib.request.Request(f"http://{self.address}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
        except OSError as err:
            raise FlinkRestError(f"Flink REST {method} {path} on {self.address} failed: {err}") from None
        return json.loads(payload) if payload else {}

    def overview(self) -> dict:
        return self._call("GET", "/overview")

    def jobs(self) -> List[dict]:
        return self._call("GET", "/jobs/overview")["jobs"]

    def running_job(self, name_or_id: str) -> dict:
        """The running job with that Flink job id or name; FlinkRestError if none or several."""
        matches = [j for j in self.jobs() if j["state"] == "RUNNING" and name_or_id in (j["jid"], j["name"])]
        if len(matches) != 1:
            running = ", ".join(f"{j['name']} ({j['jid']})" for j in self.jobs() if j["state"] == "RUNNING")
            raise FlinkRestError(f"{'no' if not matches else 'several'} running jobs match {name_or_id!r} "
                                 f"on {self.address} (running: {running or 'none'})")
        return matches[0]

    def checkpointed_bytes(self, job_id: str) -> Optional[int]:
        """The state size of the job's latest completed checkpoint, None before the first."""
        completed = (self._call("GET", f"/jobs/{job_id}/checkpoints").get("latest") or {}).get("completed")
        return completed["state_size"] if completed else None

    def stop_with_savepoint(self, job_id: str, target_dir: str, timeout_s: float = 120) -> str:
        """Stop the job after a savepoint into target_dir; returns the savepoint's location once Flink
        lists the job FINISHED (it reports the savepoint complete while the job is still stopping)."""
        trigger = self._call("POST", f"/jobs/{job_id}/stop", {"targetDirectory": target_dir, "drain": False})
        deadline = time.monotonic() + timeout_s
        while True:
            status = self._call("GET", f"/jobs/{job_id}/savepoints/{trigger['request-id']}")
            if status["status"]["id"] == "COMPLETED":
                break
            if time.monotonic() >= deadline:
                raise FlinkRestError(f"savepoint of {job_id} not done after {timeout_s:.0f}s")
            time.sleep(0.5)
        operation = status.get("operation", {})
        if "location" not in operation:
            raise FlinkRestError(f"savepoint of {job_id} failed: {operation.get('failure-cause')}")
        state = self._await_end(job_id, deadline)
        if state != "FINISHED":
            how = f"ended {state}" if state in TERMINAL_STATES else f"is still {state} after {timeout_s:.0f}s"
            raise FlinkRestError(f"savepoint {operation['location']} written, but job {job_id} {how}, not FINISHED")
        return operation["location"]

    def cancel(self, job_id: str, timeout_s: float = 60) -> None:
        """Cancel the job and wait until it has released its slots."""
        self._call("PATCH", f"/jobs/{job_id}?mode=cancel")
        state = self._await_end(job_id, time.monotonic() + timeout_s)
        if state not in TERMINAL_STATES:
            raise FlinkRestError(f"job {job_id} still {state}, not cancelled, after {timeout_s:.0f}s")

    def _await_end(self, job_id: str, deadline: float) -> str:
        """The job's state once it has ended, or at the deadline."""
        while True:
            state = self._call("GET", f"/jobs/{job_id}")["state"]
            if state in TERMINAL_STATES or time.monotonic() >= deadline:
                return state
            time.sleep(0.5)


@dataclasses.dataclass
class FlinkCluster(process.Service):
    name = "Flink session cluster"

    workdir: Path
    rest_port: int = 8081
    rpc_port: int = 6123
    worker_pool_port: int = 50000
    slots: int = 2
    taskmanager_memory: Optional[str] = None  # the task manager's total process memory; None: Flink's 1728m

    @property
    def rest_address(self) -> str:
        return f"localhost:{self.rest_port}"

    @property
    def worker_pool_address(self) -> str:
        return f"localhost:{self.worker_pool_port}"

    @property
    def rest(self) -> FlinkRest:
        return FlinkRest(self.rest_address)

    def _env(self) -> Dict[str, str]:
        return {"FLINK_CONF_DIR": str(self.workdir / "conf"), "FLINK_LOG_DIR": str(self.workdir / "log")}

    def _write_conf(self, home: Path) -> None:
        conf = self.workdir / "conf"
        shutil.rmtree(conf, ignore_errors=True)
        shutil.copytree(home / "conf", conf)
        settings = _flatten(yaml.safe_load((home / "conf" / "config.yaml").read_text()))
        settings.update(yaml.safe_load((LOOPBACK_CONF_DIR / "config.yaml").read_text()))
        settings.update({
            "rest.port": self.rest_port,
            "jobmanager.rpc.port": self.rpc_port,
            "taskmanager.numberOfTaskSlots": self.slots,
            "env.pid.dir": str(self.workdir),
            "state.checkpoints.dir": (self.workdir / "checkpoints").resolve().as_uri(),
            "state.savepoints.dir": (self.workdir / "savepoints").resolve().as_uri(),
        })
        if self.taskmanager_memory is not None:
            settings["taskmanager.memory.process.size"] = self.taskmanager_memory
        (conf / "config.yaml").write_text(yaml.safe_dump(settings, default_flow_style=False))

    def _script(self, name: str) -> List[str]:
        script = deps.flink_home() / "bin" / name
        return ["bash", str(script)]

    def start(self) -> "FlinkCluster":
        home = deps.flink_home()
        for port in (self.rest_port, self.rpc_port, self.worker_pool_port):
            if process.port_open(port):
                raise process.ServiceError(f"port {port} is already in use (a Flink cluster already up?)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_conf(home)
        pool_log = self.workdir / "log" / "worker-pool.log"
        # The pool starts each SDK worker as `python` from PATH: make that this environment's Python.
        python_first = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        pool = process.start([sys.executable, "-m", "kappa.services.worker_pool", f"--port={self.worker_pool_port}"],
                             pool_log, self.workdir / "worker-pool.pid", env=python_first)
        started = subprocess.run(self._script("start-cluster.sh"), env={**os.environ, **self._env()},
                                 capture_output=True, text=True)
        if started.returncode != 0:
            self.stop()
            raise process.ServiceError(f"start-cluster.sh failed: {started.stderr.strip()[-500:]}")
        log = self.workdir / "log"
        try:
            process.wait_until(lambda: self.rest.overview()["taskmanagers"] >= 1,
                               f"Flink REST on {self.rest_address}", 90, lambda: _newest(log, "*standalonesession*.log"))
            process.wait_until(lambda: process.port_open(self.worker_pool_port), "Beam worker pool", 30,
                               pool_log, pool)
        except process.ServiceError:
            self.stop()
            raise
        return self

    def stop(self) -> bool:
        stopped = subprocess.run(self._script("stop-cluster.sh"), env={**os.environ, **self._env()},
                                 capture_output=True, text=True)
        pool = process.stop(self.workdir / "worker-pool.pid")
        return pool or "No " not in stopped.stdout

    def pids(self) -> List[int]:
        """The worker pool's, the job manager's and the task manager's (Flink's scripts write the last two)."""
        return [int(pid) for pid_file in sorted(self.workdir.glob("*.pid")) for pid in pid_file.read_text().split()]

    def describe(self) -> str:
        return (f"REST http://{self.rest_address}, RPC localhost:{self.rpc_port}, "
                f"Beam worker pool {self.worker_pool_address} (logs: {self.workdir / 'log'})")


def _newest(folder: Path, pattern: str) -> Path:
    logs = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime)
    return logs[-1] if logs else folder / "flink.log"


def main(argv: Optional[List[str]] = None) -> int:
    defaults = FlinkCluster(Path("build/flink"))
    parser = argparse.ArgumentParser(prog="flink_cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=defaults.workdir,
                        help="configuration, logs, pid files, checkpoints (default: %(default)s)")
    parser.add_argument("--rest-port", type=int, default=defaults.rest_port,
                        help="the REST API and web UI, what kappa run and kappa stop reach (default: %(default)s)")
    parser.add_argument("--rpc-port", type=int, default=defaults.rpc_port,
                        help="the job manager's RPC, what the task manager reaches (default: %(default)s)")
    parser.add_argument("--worker-pool-port", type=int, default=defaults.worker_pool_port,
                        help="the Beam worker pool, what jobs' --worker-pool names (default: %(default)s)")
    args = parser.parse_args(argv)
    cluster = FlinkCluster(args.dir, rest_port=args.rest_port, rpc_port=args.rpc_port,
                           worker_pool_port=args.worker_pool_port)
    return process.up_or_down(cluster, args.action, (deps.MissingDependency, FlinkRestError))


if __name__ == "__main__":
    sys.exit(main())
