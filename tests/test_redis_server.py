"""The Redis server kappa starts (`kappa.services.redis_server`): on loopback only, every client asked for
a password that is on no command line, nothing saved to disk."""
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from kappa.services import process
from tests import sockets


def test_it_serves_a_client_with_the_password(redis_server):
    with redis_server.client(decode_responses=True) as client:
        client.hset("view:c1", mapping={"open_orders": 2, "position": 17})
        assert client.hgetall("view:c1") == {"open_orders": "2", "position": "17"}
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}


def test_a_client_without_the_password_is_refused(redis_server):
    with redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=5) as client:
        with pytest.raises(redis.AuthenticationError):
            client.ping()


def test_it_listens_on_loopback_only(redis_server):
    found = sockets.listening(redis_server.pids())
    assert [port for _, _, port, _ in found] == [redis_server.port]
    assert all(sockets.is_loopback(address) for _, address, _, _ in found), found


def test_the_password_is_on_no_command_line(redis_server):
    password = redis_server.password()
    assert len(password) >= 24
    for secret in (redis_server.password_file, redis_server.workdir / "redis.conf"):
        assert oct(secret.stat().st_mode)[-3:] == "600"
    commands = [path.read_bytes() for path in Path("/proc").glob("[0-9]*/cmdline") if path.exists()]
    assert not [command for command in commands if password.encode() in command]


def test_up_on_a_port_in_use_is_one_line_and_status_1(redis_server, tmp_path):
    done = subprocess.run([sys.executable, "-W", "ignore", "-m", "kappa.services.redis_server", "up", "--dir",
                           str(tmp_path), "--port", str(redis_server.port)], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"Redis: error: port {redis_server.port} is already in use\n")


def test_down_stops_it(tmp_path):
    from kappa.services.redis_server import RedisServer
    server = RedisServer(tmp_path, port=process.free_port()).start()
    assert server.stop() and not process.port_open(server.port)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["password", "redis.conf", "redis.log"]
