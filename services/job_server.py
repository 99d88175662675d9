"""Beam's Flink job server as a long-lived service, for many jobs in a row (the test suite's TestStream
scenarios): one JVM start instead of one per job. `kappa run` does not need it; Beam's FlinkRunner starts
the same jar for each run."""
import dataclasses
import tempfile
from pathlib import Path

from kappa.services import deps, process
from kappa.services.flink_cluster import LOOPBACK_CONF_DIR


@dataclasses.dataclass
class FlinkJobServer(process.Service):
    name = "Flink job server"
    stem = "job-server"

    workdir: Path
    flink_master: str = "[local]"
    job_port: int = 8099

    @property
    def endpoint(self) -> str:
        return f"localhost:{self.job_port}"

    def start(self) -> "FlinkJobServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        artifacts = tempfile.mkdtemp(prefix="artifacts-", dir=self.workdir)
        server = process.start(["java", "-jar", str(deps.job_server_jar()), "--flink-master", self.flink_master,
                                "--job-port", str(self.job_port), "--artifact-port", "0",
                                "--expansion-port", "-1", "--artifacts-dir", artifacts,
                                "--flink-conf-dir", str(LOOPBACK_CONF_DIR)],
                               self.log, self.pid_file)
        process.wait_until(lambda: process.port_open(self.job_port), f"Flink job server on {self.endpoint}",
                           60, self.log, server)
        return self

    def describe(self) -> str:
        return f"{self.endpoint} (log: {self.log})"
