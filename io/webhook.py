"""Records posted to an HTTP webhook, at least once: the tier of alerts that someone must act on now.

    alerts | PostJson("https://alerts.example/hook", key_field="key")

Each record is POSTed as JSON (`Content-Type: application/json`) with an `Idempotency-Key` header
holding its key, so a receiver that sees a key twice (a retried request, a retried bundle) can drop
the second. A connection error, a 429 or a 5xx answer is retried on a new connection after an
exponential backoff, up to `max_attempts`; then the bundle fails, and the runner retries the bundle,
which posts its records again: at least once, never silently dropped. Any other 4xx answer means the
receiver refuses the record itself, which no retry changes: the bundle fails at once, naming the
status and the key (`WebhookRefused`).

The standard library's `http.client` keeps one connection per DoFn instance, opened in `setup` and
kept alive between records (urllib's `urlopen` would open one per request).
"""
from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from typing import Any, Dict

import apache_beam as beam

RETRIED_STATUS = 429  # too many requests: the only 4xx worth another attempt


class WebhookError(Exception):
    """The webhook did not take a record: the bundle fails, and is retried by the runner."""


class WebhookRefused(WebhookError):
    """A 4xx answer other than 429: the receiver refuses the record, so no retry can help."""


def check_url(url: str) -> str:
    """The URL, or ValueError (one line) when it is not http(s)://host[:port][/path]."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--alert-webhook must be an http:// or https:// URL with a host, got {url!r}")
    try:
        parts.port
    except ValueError:
        raise ValueError(f"--alert-webhook has a bad port: {url!r}") from None
    return url


class _Post(beam.DoFn):
    def __init__(self, url: str, key_field: str, max_attempts: int, first_backoff_s: float, timeout_s: float):
        self._url = check_url(url)
        self._key_field = key_field
        self._max_attempts = max_attempts
        self._first_backoff_s = first_backoff_s
        self._timeout_s = timeout_s

    def setup(self) -> None:
        parts = urllib.parse.urlsplit(self._url)
        connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._connection = connection_type(parts.hostname, parts.port, timeout=self._timeout_s)
        self._path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))

    def process(self, record: Dict[str, Any]):
        key = str(record[self._key_field])
        body = json.dumps(record, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        backoff_s, failure = self._first_backoff_s, ""
        for attempt in range(1, self._max_attempts + 1):
            status, failure = self._post(body, headers)
            if status is not None and status < 300:
                return ()
            if status is not None and 400 <= status < 500 and status != RETRIED_STATUS:
                raise WebhookRefused(f"the alert webhook {self._url} refused the record with key {key}: "
                                     f"{failure} (a 4xx is not retried)")
            if attempt < self._max_attempts:
                time.sleep(backoff_s)
                backoff_s *= 2
        raise WebhookError(f"the alert webhook {self._url} did not take the record with key {key} in "
                           f"{self._max_attempts} attempts: {failure}")

    def _post(self, body: bytes, headers: Dict[str, str]):
        """(status, what happened); status None when the connection failed, after which it is reopened."""
        try:
            self._connection.request("POST", self._path, body=body, headers=headers)
            response = self._connection.getresponse()
            response.read()  # the connection is reused only once the answer is read
            return response.status, f"HTTP {response.status} {response.reason}"
        except (OSError, http.client.HTTPException) as err:
            self._connection.close()  # the next request connects again
            return None, f"{type(err).__name__}: {err}"

    def teardown(self) -> None:
        self._connection.close()


class PostJson(beam.PTransform):
    """PCollection[dict] -> each record POSTed to `url` with its `key_field` as Idempotency-Key."""

    def __init__(self, url: str, key_field: str, max_attempts: int = 6, first_backoff_s: float = 0.1,
                 timeout_s: float = 10.0):
        super().__init__()
        self._post = _Post(url, key_field, max_attempts, first_backoff_s, timeout_s)

    def expand(self, records: beam.PCollection) -> beam.pvalue.PDone:
        records | "Post" >> beam.ParDo(self._post)
        return beam.pvalue.PDone(records.pipeline)
