"""The PostgreSQL cluster kappa starts (`kappa.services.postgres`): ready for Debezium's logical decoding,
on loopback only, every connection with a password that is on no command line, and replication slots
dropped when it stops."""
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from kappa.services import process
from kappa.services.postgres import Postgres
from tests import sockets
from tests.conftest import postgres_folder


def test_the_cluster_is_ready_for_logical_decoding(postgres):
    with postgres.connect(autocommit=True) as connection:
        assert connection.execute("SHOW wal_level").fetchone() == ("logical",)
        assert connection.execute("SELECT current_database(), current_user").fetchone() == ("kappa", "kappa")
        connection.execute("CREATE TABLE decoded (id integer PRIMARY KEY, status text)")
        connection.execute("ALTER TABLE decoded REPLICA IDENTITY FULL")
        connection.execute("CREATE PUBLICATION decoded_changes FOR TABLE decoded")
        connection.execute("SELECT pg_create_logical_replication_slot('decoded_slot', 'pgoutput')")
        connection.execute("INSERT INTO decoded VALUES (1, 'pending')")
        messages = connection.execute(
            "SELECT chr(get_byte(data, 0)) FROM pg_logical_slot_get_binary_changes('decoded_slot', NULL, NULL, "
            "'proto_version', '1', 'publication_names', 'decoded_changes')").fetchall()
        connection.execute("SELECT pg_drop_replication_slot('decoded_slot')")
    assert [kind for kind, in messages] == ["B", "R", "I", "C"]  # pgoutput: begin, relation, insert, commit


def test_it_listens_on_loopback_only(postgres):
    found = sockets.listening(postgres.pids())
    assert [port for _, _, port, _ in found] == [postgres.port]
    assert all(sockets.is_loopback(address) for _, address, _, _ in found), found


def test_a_connection_without_the_password_is_refused(postgres):
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(f"host=127.0.0.1 port={postgres.port} user=kappa dbname=kappa passfile=/dev/null",
                        connect_timeout=5)


def test_the_password_is_on_no_command_line(postgres):
    password = postgres.password()
    assert len(password) >= 24 and oct(postgres.passfile.stat().st_mode)[-3:] == "600"
    commands = [path.read_bytes() for path in Path("/proc").glob("[0-9]*/cmdline") if path.exists()]
    assert not [command for command in commands if password.encode() in command]


def test_down_drops_the_replication_slots_and_up_keeps_the_cluster():
    folder = postgres_folder()
    try:
        server = Postgres(folder, port=process.free_port())
        with server:
            with server.connect(autocommit=True) as connection:
                connection.execute("CREATE TABLE kept (id integer PRIMARY KEY)")
                connection.execute("INSERT INTO kept VALUES (7)")
                connection.execute("SELECT pg_create_logical_replication_slot('abandoned', 'pgoutput')")
        with server:
            with server.connect() as connection:
                assert connection.execute("SELECT id FROM kept").fetchall() == [(7,)]
                assert connection.execute("SELECT slot_name FROM pg_replication_slots").fetchall() == []
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_up_on_a_port_in_use_is_one_line_and_status_1(postgres):
    folder = postgres_folder()
    try:
        done = subprocess.run([sys.executable, "-W", "ignore", "-m", "kappa.services.postgres", "up", "--dir",
                               str(folder), "--port", str(postgres.port)], capture_output=True, text=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", f"PostgreSQL: error: port {postgres.port} is already in use\n")
