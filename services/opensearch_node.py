"""A single-node OpenSearch 2.19 on loopback, from Maven Central's jars and the project's launcher.

    python -m kappa.services.opensearch_node up|down [--dir build/opensearch] [--http-port 9200]
                                                    [--transport-port 9300]

No distribution archive is served here, so `make deps` copies the server's jars (`deps/opensearch`)
and compiles `services/opensearch/SingleNode.java`, a `Node` given its plugins as classes (Netty
HTTP and transport, painless, the common analyzers), the way OpenSearch's own test framework starts a
node. It listens on 127.0.0.1 only (`discovery.type=single-node`: no cluster to form, and the
production bootstrap checks do not apply on loopback), with no security plugin, so no secret at all.
A start keeps the data folder of the node before it.
"""
import argparse
import dataclasses
import json
import sys
import urllib.request
from pathlib import Path
from typing import List, Optional

from kappa.services import deps, jvm, process

SETTINGS = """\
cluster.name: kappa
node.name: kappa-1
network.host: 127.0.0.1
http.port: {http_port}
transport.port: {transport_port}
discovery.type: single-node
path.data: {data}
path.logs: {logs}
"""


@dataclasses.dataclass
class OpenSearchNode(process.Service):
    name = "OpenSearch"
    stem = "opensearch"

    workdir: Path
    http_port: int = 9200
    transport_port: int = 9300
    heap: str = "512m"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> "OpenSearchNode":
        classpath = deps.opensearch_classpath()
        if process.running(self.pid_file):
            raise process.ServiceError(f"an OpenSearch node already runs from {self.workdir} (stop it first)")
        for port in (self.http_port, self.transport_port):
            if process.port_open(port):
                raise process.ServiceError(f"port {port} is already in use")
        config = self.workdir / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "opensearch.yml").write_text(SETTINGS.format(
            http_port=self.http_port, transport_port=self.transport_port, data=self.workdir / "data",
            logs=self.workdir / "logs"))
        (config / "log4j2.properties").write_text(jvm.LOG4J2_TO_CONSOLE)
        command = ["java", f"-Xms{self.heap}", f"-Xmx{self.heap}", f"-Dlog4j2.configurationFile={config / 'log4j2.properties'}",
                   "-cp", classpath, "dev.kappa.opensearch.SingleNode", str(self.workdir)]
        node = process.start(command, self.log, self.pid_file, cwd=self.workdir)
        process.wait_until(self._ready, f"OpenSearch on {self.url}", 120, self.log, node)
        return self

    def request(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        """One REST call, its JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        call = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                      headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(call, timeout=10) as response:
            return json.load(response)

    def _ready(self) -> bool:
        if not process.port_open(self.http_port):
            return False
        return self.request("GET", "/_cluster/health")["status"] in ("green", "yellow")

    def describe(self) -> str:
        return f"{self.url} (log: {self.log})"


def main(argv: Optional[List[str]] = None) -> int:
    defaults = OpenSearchNode(Path("build/opensearch"))
    parser = argparse.ArgumentParser(prog="opensearch_node", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=defaults.workdir,
                        help="its configuration, data, log and pid file (default: %(default)s)")
    parser.add_argument("--http-port", type=int, default=defaults.http_port, help="the REST port (default: %(default)s)")
    parser.add_argument("--transport-port", type=int, default=defaults.transport_port,
                        help="the node-to-node port (default: %(default)s)")
    args = parser.parse_args(argv)
    node = OpenSearchNode(args.dir.resolve(), args.http_port, args.transport_port)
    return process.up_or_down(node, args.action, (deps.MissingDependency,))


if __name__ == "__main__":
    sys.exit(main())
