"""`--alert-webhook`: every alert POSTed to a real HTTP server on loopback, at least once, through a
reset connection and a 503; a 4xx refusal fails the bundle at once with the status and the key."""
import contextlib
import http.server
import io
import json
import socket
import struct
import threading
from typing import Callable, Dict, Iterator, List, Optional

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from kappa.io import generate_fraud, webhook, writers
from kappa.pipelines.model import ALERTS
from kappa.runners import cli

ARCHIVE = generate_fraud.FraudConfig(payments=400, hours=1, seed=5, duplicate_rate=0.02, malformed=3)
RESET = "reset"  # a scripted answer: the connection is reset, with no answer at all


class Receiver:
    """What the server saw: each request's Idempotency-Key, and the bodies it accepted by key."""

    def __init__(self, answers: Callable[[int], object]):
        self.answers = answers  # the n-th request (from 0) -> RESET or an HTTP status
        self.keys: List[str] = []
        self.accepted: Dict[str, List[dict]] = {}
        self.lock = threading.Lock()


def _handler(receiver: Receiver):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the sink expects

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with receiver.lock:
                answer = receiver.answers(len(receiver.keys))
                receiver.keys.append(self.headers["Idempotency-Key"])
                if answer == 200:
                    receiver.accepted.setdefault(self.headers["Idempotency-Key"], []).append(body)
            if answer == RESET:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()  # an RST: the client sees ConnectionResetError
                self.wfile, self.close_connection = io.BytesIO(), True
                return
            self.send_response(answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


@contextlib.contextmanager
def serving(answers: Callable[[int], object]) -> Iterator[tuple]:
    receiver = Receiver(answers)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", receiver
    finally:
        server.shutdown()
        server.server_close()


def _first_reset_then_503(n: int) -> object:
    return {0: RESET, 1: 503, 2: RESET, 3: 503}.get(n, 200)


def test_every_alert_arrives_at_least_once_through_resets_and_503s(tmp_path):
    generate_fraud.write_fraud_archive(ARCHIVE, str(tmp_path / "in"), "jsonl")
    with serving(_first_reset_then_503) as (url, receiver):
        assert cli.main(["run", "fraud-scoring", "--input", f"payments={tmp_path / 'in' / 'payments'}",
                         "--input", f"devices={tmp_path / 'in' / 'devices'}", "--output", str(tmp_path / "out"),
                         "--alert-webhook", url]) == 0
    alerts = {r["key"]: r for r in writers.read_json_lines(str(tmp_path / "out"), ALERTS)}
    assert len(alerts) == 12
    assert {key: bodies[0] for key, bodies in receiver.accepted.items()} == alerts
    assert set(receiver.keys) == set(alerts)
    assert len(receiver.keys) == len(alerts) + 4  # the two resets and the two 503s were retried


def _post(url: str, records: List[dict], max_attempts: int = 3) -> None:
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        _ = (pipeline | beam.Create(records)
             | webhook.PostJson(url, "key", max_attempts=max_attempts, first_backoff_s=0.01))


def test_a_4xx_fails_the_bundle_at_once_naming_the_status_and_the_key():
    with serving(lambda n: 400) as (url, receiver):
        with pytest.raises(webhook.WebhookRefused) as raised:
            _post(url, [{"key": "p-1", "score": 70}])
    assert str(raised.value) == (f"the alert webhook {url} refused the record with key p-1: HTTP 400 Bad Request "
                                 "(a 4xx is not retried) [while running 'PostJson/Post']")
    assert receiver.keys == ["p-1"]


def test_a_429_is_retried_and_attempts_are_bounded():
    with serving(lambda n: 429 if n < 2 else 200) as (url, receiver):
        _post(url, [{"key": "p-1", "score": 70}])
    assert receiver.keys == ["p-1"] * 3 and list(receiver.accepted) == ["p-1"]
    with serving(lambda n: 503) as (url, receiver):
        with pytest.raises(webhook.WebhookError) as raised:
            _post(url, [{"key": "p-2", "score": 70}])
    assert str(raised.value) == (f"the alert webhook {url} did not take the record with key p-2 in 3 attempts: "
                                 "HTTP 503 Service Unavailable [while running 'PostJson/Post']")
    assert receiver.keys == ["p-2"] * 3


@pytest.mark.parametrize("argv, message", [
    (["--alert-webhook", "ftp://host/x"], "--alert-webhook must be an http:// or https:// URL with a host, got "
                                          "'ftp://host/x'"),
    (["--alert-webhook", "http:///x"], "--alert-webhook must be an http:// or https:// URL with a host, got 'http:///x'"),
])
def test_bad_webhook_urls_are_usage_errors(argv, message, tmp_path, capsys):
    assert cli.main(["run", "fraud-scoring", "--input", f"payments={tmp_path}", "--input", f"devices={tmp_path}",
                     "--output", str(tmp_path / "out"), *argv]) == 2
    assert capsys.readouterr().err == f"kappa: error: {message}\n"


def test_a_pipeline_without_alerts_refuses_the_webhook(tmp_path, capsys):
    assert cli.main(["run", "orders-per-minute", "--input", str(tmp_path), "--output", str(tmp_path / "out"),
                     "--alert-webhook", "http://127.0.0.1:1/x"]) == 2
    assert capsys.readouterr().err == ("kappa: error: --alert-webhook posts a pipeline's alerts output, and "
                                       "orders-per-minute has none (its outputs: results)\n")
