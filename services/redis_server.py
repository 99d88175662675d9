"""A Redis 7 server from Debian's packages, on loopback, for kappa's materialized views.

    python -m kappa.services.redis_server up|down [--dir build/redis] [--port 6380] [--persist]

It listens on 127.0.0.1 only and asks every client for a password, generated at the first start into
`<dir>/password` (mode 600) and written into its configuration file (also mode 600), never on a
command line. Nothing is saved to disk unless `--persist` (an append-only file in `<dir>`): a view in
Redis is rebuilt from its changelog, and the tests want none.
"""
import argparse
import dataclasses
import secrets
import shutil
import sys
from pathlib import Path
from typing import List, Optional

from kappa.services import process

SERVER = "redis-server"

CONFIG = """\
bind 127.0.0.1
port {port}
protected-mode yes
daemonize no
logfile ""
dir {dir}
save ""
appendonly {appendonly}
requirepass {password}
"""


class MissingRedis(RuntimeError):
    """Redis's server is not installed."""


@dataclasses.dataclass
class RedisServer(process.Service):
    name = "Redis"
    stem = "redis"

    workdir: Path
    port: int = 6380
    persist: bool = False

    @property
    def password_file(self) -> Path:
        return self.workdir / "password"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def password(self) -> str:
        return self.password_file.read_text().strip()

    def client(self, **kwargs):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password(), **kwargs)

    def start(self) -> "RedisServer":
        server = shutil.which(SERVER)
        if server is None:
            raise MissingRedis(f"no {SERVER} on the PATH: install Debian's redis-server (make redis-deps)")
        if process.running(self.pid_file):
            raise process.ServiceError(f"a Redis already runs from {self.workdir} (stop it first)")
        if process.port_open(self.port):
            raise process.ServiceError(f"port {self.port} is already in use")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.touch(mode=0o600)
            self.password_file.write_text(secrets.token_urlsafe(24) + "\n")
        config = self.workdir / "redis.conf"
        config.touch(mode=0o600)
        config.write_text(CONFIG.format(port=self.port, dir=self.workdir, password=self.password(),
                                        appendonly="yes" if self.persist else "no"))
        started = process.start([server, str(config)], self.log, self.pid_file, cwd=self.workdir)
        process.wait_until(self._ready, f"Redis on 127.0.0.1:{self.port}", 30, self.log, started)
        return self

    def _ready(self) -> bool:
        if not process.port_open(self.port):
            return False
        with self.client(socket_timeout=2) as client:
            return client.ping()

    def describe(self) -> str:
        return f"{self.url}, password in {self.password_file} (log: {self.log})"


def main(argv: Optional[List[str]] = None) -> int:
    defaults = RedisServer(Path("build/redis"))
    parser = argparse.ArgumentParser(prog="redis_server", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=defaults.workdir,
                        help="its configuration, password file, log and pid file (default: %(default)s)")
    parser.add_argument("--port", type=int, default=defaults.port, help="the server's TCP port (default: %(default)s)")
    parser.add_argument("--persist", action="store_true",
                        help="up: keep an append-only file in --dir (default: nothing on disk)")
    args = parser.parse_args(argv)
    return process.up_or_down(RedisServer(args.dir.resolve(), args.port, args.persist), args.action, (MissingRedis,))


if __name__ == "__main__":
    sys.exit(main())
