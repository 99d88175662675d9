"""A PostgreSQL 15 cluster of kappa's own, from Debian's packages, on loopback, ready for logical decoding.

    python -m kappa.services.postgres up|down [--dir build/postgres] [--port 5433] [--fresh]

The server refuses to run as root, so the cluster (`<dir>/data`) and its socket folder belong to the
`postgres` user the Debian package creates, and the server runs as that user. It listens on
127.0.0.1 only, with `wal_level=logical` for Debezium's `pgoutput`. Every connection, TCP or socket,
authenticates with a password (scram-sha-256) as the superuser `kappa`, into the database `kappa`:
the password is generated at the first start into `<dir>/pgpass` (mode 600, libpq's password file
format), which clients name (`passfile`, or PGPASSFILE) and which never travels on a command line. A
start keeps the cluster that is there (`--fresh` makes a new one).

`down` drops every replication slot before it stops the server: a slot nobody reads keeps WAL for
good, and the next start would inherit it.
"""
import argparse
import dataclasses
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

from kappa.services import process

BIN = Path("/usr/lib/postgresql/15/bin")
OWNER = "postgres"
USER = DATABASE = "kappa"
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "wal_level": "logical",
    "max_wal_senders": "8",
    "max_replication_slots": "8",
}


PASSFILE = "pgpass"


def password_of(workdir: Path) -> str:
    """The password a cluster's first start generated into its password file (libpq's format)."""
    return (workdir / PASSFILE).read_text().strip().rsplit(":", 1)[1]


class MissingPostgres(RuntimeError):
    """PostgreSQL 15's server or its `postgres` user is not installed."""


def _as_owner(command: List[str]) -> List[str]:
    """The command as the `postgres` user, exec'd in place (no session or PAM in between)."""
    return ["setpriv", f"--reuid={OWNER}", f"--regid={OWNER}", "--init-groups", "--", *command]


@dataclasses.dataclass
class Postgres(process.Service):
    name = "PostgreSQL"
    stem = "postgres"

    workdir: Path
    port: int = 5433
    fresh: bool = False  # a new cluster even if one is there

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def sockets(self) -> Path:
        return self.workdir / "sockets"

    @property
    def passfile(self) -> Path:
        return self.workdir / PASSFILE

    def password(self) -> str:
        return password_of(self.workdir)

    def conninfo(self, dbname: str = DATABASE) -> str:
        """libpq's connection string, the password read from `passfile`."""
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={dbname} passfile={self.passfile}"

    @property
    def url(self) -> str:
        return f"postgres://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> "Postgres":
        if not (BIN / "postgres").exists():
            raise MissingPostgres(f"no PostgreSQL 15 server at {BIN}: install Debian's postgresql-15 (make pg-deps)")
        try:
            owner = pwd.getpwnam(OWNER)
        except KeyError:
            raise MissingPostgres(f"no user {OWNER!r}: install Debian's postgresql-15 (make pg-deps)") from None
        if process.running(self.pid_file):
            raise process.ServiceError(f"a PostgreSQL already runs from {self.workdir} (stop it first)")
        if process.port_open(self.port):
            raise process.ServiceError(f"port {self.port} is already in use")
        self.workdir.mkdir(parents=True, exist_ok=True)
        for folder in (self.workdir, *self.workdir.parents):
            if not folder.stat().st_mode & stat.S_IXOTH:
                raise process.ServiceError(f"the {OWNER} user cannot reach {self.workdir}: {folder} is not "
                                           "traversable by others (chmod o+x, or choose another --dir)")
        if self.fresh or not (self.data / "PG_VERSION").exists():
            self._init(owner)
        self.sockets.mkdir(exist_ok=True)
        os.chown(self.sockets, owner.pw_uid, owner.pw_gid)
        settings = [f"--{name}={value}" for name, value in
                    {**SETTINGS, "port": str(self.port), "unix_socket_directories": str(self.sockets)}.items()]
        server = process.start(_as_owner([str(BIN / "postgres"), "-D", str(self.data), *settings]),
                               self.log, self.pid_file, cwd=self.workdir)
        process.wait_until(self._ready, f"PostgreSQL on 127.0.0.1:{self.port}", 60, self.log, server)
        self._create_database()
        return self

    def _init(self, owner: pwd.struct_passwd) -> None:
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(mode=0o700)
        os.chown(self.data, owner.pw_uid, owner.pw_gid)
        password = secrets.token_urlsafe(24)
        self.passfile.touch(mode=0o600)
        self.passfile.write_text(f"127.0.0.1:*:*:{USER}:{password}\n")
        # initdb takes the password from a file the owner can read, removed once it has run.
        handover = self.data.parent / ".initdb-password"
        handover.touch(mode=0o600)
        os.chown(handover, owner.pw_uid, owner.pw_gid)
        handover.write_text(password + "\n")
        try:
            initialized = subprocess.run(
                _as_owner([str(BIN / "initdb"), "-D", str(self.data), f"--username={USER}",
                           f"--pwfile={handover}", "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"]),
                capture_output=True, text=True, cwd=self.workdir)
        finally:
            handover.unlink()
        if initialized.returncode != 0:
            raise process.ServiceError(f"initdb into {self.data} failed: {initialized.stderr.strip()[-800:]}")

    def connect(self, dbname: str = DATABASE, **kwargs):
        import psycopg
        return psycopg.connect(self.conninfo(dbname), **kwargs)

    def _ready(self) -> bool:
        if not process.port_open(self.port):
            return False
        with self.connect("postgres", connect_timeout=2) as connection:
            connection.execute("SELECT 1")
        return True

    def _create_database(self) -> None:
        with self.connect("postgres", autocommit=True) as connection:
            if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                connection.execute(f'CREATE DATABASE "{DATABASE}"')

    def drop_replication_slots(self) -> List[str]:
        """Every replication slot dropped (their readers disconnected first); the slots' names."""
        with self.connect("postgres", autocommit=True) as connection:
            connection.execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active")
            dropped = connection.execute(
                "SELECT slot_name, pg_drop_replication_slot(slot_name) FROM pg_replication_slots").fetchall()
        return [name for name, _ in dropped]

    def stop(self) -> bool:
        if not process.running(self.pid_file):
            return process.stop(self.pid_file)  # a pid file a crash left behind
        try:
            self.drop_replication_slots()
        finally:
            subprocess.run(_as_owner([str(BIN / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"]),
                           capture_output=True, cwd=self.workdir)
            process.stop(self.pid_file)  # the pid file; and the server, had pg_ctl failed
        return True

    def describe(self) -> str:
        return f"{self.url}, password in {self.passfile} (log: {self.log})"


def main(argv: Optional[List[str]] = None) -> int:
    defaults = Postgres(Path("build/postgres"))
    parser = argparse.ArgumentParser(prog="postgres", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=defaults.workdir,
                        help="the cluster, its password file, log and pid file (default: %(default)s)")
    parser.add_argument("--port", type=int, default=defaults.port, help="the server's TCP port (default: %(default)s)")
    parser.add_argument("--fresh", action="store_true", help="up: a new, empty cluster (default: keep the one there)")
    args = parser.parse_args(argv)
    return process.up_or_down(Postgres(args.dir.resolve(), args.port, fresh=args.fresh), args.action,
                              (MissingPostgres,))


if __name__ == "__main__":
    sys.exit(main())
