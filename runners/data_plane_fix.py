"""A fix to Beam 2.62's data plane that a run with worker processes needs, or it loses records.

The FnApiRunner sends a stage's input to a worker process through a stream that a background thread
flushes every second (`worker_handlers.DATA_BUFFER_TIME_LIMIT_MS`). The flush takes the buffer's
bytes, hands them on, then clears the buffer, under a lock that a write does not take: whatever
the runner writes meanwhile is cleared unsent. An input sent in many chunks over more than a second
(a materialized PCollection, such as the lines a Flatten gathers for the writers) loses whole chunks,
silently: a 4M-payment fraud backfill wrote 3.91M of its 4.0M scores.

`install` makes a write take the flush's lock. It covers the runner's side, which writes whole
chunks with `write`; a worker process flushes by size only (Beam's default there), on one thread.
"""
from __future__ import annotations

from apache_beam.runners.worker.data_plane import TimeBasedBufferingClosableOutputStream

_unlocked_write = TimeBasedBufferingClosableOutputStream.write


def _locked_write(self: TimeBasedBufferingClosableOutputStream, b: bytes, nested: bool = False) -> None:
    with self._flush_lock:
        _unlocked_write(self, b, nested)


def install() -> None:
    """Idempotent; affects every time-flushed data stream of this process."""
    TimeBasedBufferingClosableOutputStream.write = _locked_write
