"""Background processes with a log file and a pid file, so `make x-up` and `make x-down` can be separate
commands and a test fixture can start and stop the same thing."""
import os
import signal
import sys
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Type, Union


class ServiceError(RuntimeError):
    """A service did not start or stop; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(command: List[str], log: Path, pid_file: Path, env: Optional[Dict[str, str]] = None,
          cwd: Optional[Path] = None) -> subprocess.Popen:
    """Start detached in its own process group (so stopping it stops its children too)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)
    pid_file.write_text(str(process.pid))
    return process


def wait_until(ready: Callable[[], bool], what: str, timeout_s: float, log: Union[Path, Callable[[], Path]],
               process: Optional[subprocess.Popen] = None) -> None:
    """`log` may be a function: a service that names its log file itself (Flink) has not written it yet
    when the wait begins, so it is looked up when there is something to report."""
    def tail() -> str:
        path = log() if callable(log) else log
        return f"end of {path}:\n{log_tail(path)}"

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceError(f"{what} exited with status {process.returncode}; {tail()}")
        try:
            if ready():
                return
        except Exception:  # not up yet: connection refused, half-started HTTP server, ...
            pass
        time.sleep(0.5)
    raise ServiceError(f"{what} not ready after {timeout_s:.0f}s; {tail()}")


def running(pid_file: Path) -> bool:
    """Whether the process group the pid file names still runs (a crash leaves the file behind)."""
    try:
        os.killpg(int(pid_file.read_text()), 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def stop(pid_file: Path, timeout_s: float = 20.0) -> bool:
    """SIGTERM the process group named by the pid file, SIGKILL it if it lingers; False if none ran."""
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        _reap(pid)
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


class Service:
    """Something started on loopback and stopped again; a context manager for fixtures and demos.

    A subclass has a `workdir`; a single-process service keeps `<stem>.pid` and `<stem>.log` there.
    """

    name = "service"
    stem = "service"
    workdir: Path

    @property
    def pid_file(self) -> Path:
        return self.workdir / f"{self.stem}.pid"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.stem}.log"

    def start(self) -> "Service":
        raise NotImplementedError

    def stop(self) -> bool:
        return stop(self.pid_file)

    def pids(self) -> List[int]:
        """The processes it started (their children aside), for a look at what they listen on."""
        return [int(self.pid_file.read_text())] if self.pid_file.exists() else []

    def describe(self) -> str:
        """One line saying where it listens, printed by `up`."""
        raise NotImplementedError

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def up_or_down(service: Service, action: str, errors: Tuple[Type[Exception], ...]) -> int:
    """`python -m kappa.services.<x> up|down`: one line either way, status 1 on failure."""
    try:
        if action == "up":
            service.start()
            print(f"{service.name} up: {service.describe()}")
        else:
            print(f"{service.name} stopped" if service.stop() else f"no {service.name} was running")
    except (ServiceError, *errors) as err:
        print(f"{service.name}: error: {err}", file=sys.stderr)
        return 1
    return 0
