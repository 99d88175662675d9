"""A live line on a terminal while a batch or replay run goes on: records read, rate, elapsed time.

Readers report through their records-in counter (`kappa.transforms.metrics`), which writes each
process's count to a temporary folder; this polls the folder. Nothing is shown, and nothing is
written, when stderr is not a terminal.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from typing import Optional, TextIO

from kappa.transforms import metrics

INTERVAL_S = 0.5
_ERASE = "\r\x1b[K"


class Progress:
    """A context: while it is open, a line on `stream` (when a terminal) shows the records read so far."""

    def __init__(self, stream: TextIO = sys.stderr):
        self._stream = stream
        self._folder: Optional[str] = None
        self._started = 0.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "Progress":
        if not self._stream.isatty():
            return self
        self._folder = tempfile.mkdtemp(prefix="kappa-progress-")
        os.environ[metrics.PROGRESS_DIR_ENV] = self._folder
        self._started = time.monotonic()
        self._show()
        self._thread = threading.Thread(target=self._poll, name="kappa-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._folder is None:
            return
        self._stop.set()
        self._thread.join()
        self._show()
        self._stream.write(_ERASE)
        self._stream.flush()
        os.environ.pop(metrics.PROGRESS_DIR_ENV, None)
        shutil.rmtree(self._folder, ignore_errors=True)

    def _poll(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            self._show()

    def _show(self) -> None:
        records = metrics.progress(self._folder)
        elapsed = time.monotonic() - self._started
        rate = records / elapsed if elapsed > 0 else 0.0
        self._stream.write(f"{_ERASE}  records read {records:,}   {rate:,.0f}/s   {elapsed:.1f}s elapsed")
        self._stream.flush()
