"""Beam's time-flushed data stream keeps every byte written while its flusher runs (`data_plane_fix`)."""
import time

import apache_beam as beam
from apache_beam.runners.worker.data_plane import TimeBasedBufferingClosableOutputStream

from kappa.runners import data_plane_fix
from kappa.runners.profiles import DirectProfile, Mode

CHUNK = b"x" * 10_000


def written_and_sent(seconds: float):
    sent = []
    stream = TimeBasedBufferingClosableOutputStream(close_callback=sent.append, flush_callback=sent.append,
                                                    time_flush_threshold_ms=1)
    written, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        stream.write(CHUNK)
        written += len(CHUNK)
    stream.close()
    return written, sum(map(len, sent))


def test_writes_racing_the_periodic_flush_are_all_sent():
    data_plane_fix.install()
    written, sent = written_and_sent(0.5)
    assert written > 100 * len(CHUNK)  # many flushes raced the writes (one every millisecond)
    assert sent == written


def test_a_run_with_worker_processes_installs_the_fix(monkeypatch):
    """Without the fix, a 4M-record Flatten sent to two workers lost about 12% of its lines."""
    monkeypatch.setattr(TimeBasedBufferingClosableOutputStream, "write",
                        TimeBasedBufferingClosableOutputStream.__mro__[1].write)
    pipeline = DirectProfile(workers=2).pipeline(Mode.BATCH, parallel_inputs=2)
    _ = pipeline | beam.Create([1, 2, 3]) | beam.Map(abs)
    pipeline.run().wait_until_finish()
    assert TimeBasedBufferingClosableOutputStream.write is data_plane_fix._locked_write
