"""Counter names shared by the transforms and the run summary (namespace `kappa`).

The records-in counter also feeds the live progress a run shows on a terminal (`kappa.runners.progress`):
Beam's runners report metrics only when a job ends, so while one runs each process that counts records
in (this one, or a batch run's worker processes) writes its own count to a file of its own in the
folder named by `$KAPPA_PROGRESS_DIR`, when the CLI has set it.
"""
import os
from typing import Optional

from apache_beam.metrics import Metrics

NAMESPACE = "kappa"
RECORDS_IN = "records_in"
DEAD_LETTERS = "dead_letters"
ACCEPTED = "accepted"  # valid records taken into a window's final result, redeliveries included
COUNTED = "counted"  # distinct records in final results

PROGRESS_DIR_ENV = "KAPPA_PROGRESS_DIR"
FLUSH_EVERY = 10_000  # records counted one at a time; a count added at once (a file split) is written at once
_WIDTH = 20  # every write the same length, so a reader never sees a mix of two


def counter(name: str):
    beam_counter = Metrics.counter(NAMESPACE, name)
    return _ReportingCounter(beam_counter) if name == RECORDS_IN else beam_counter


def records_read_outside_a_pipeline(n: int = 1) -> None:
    """For the progress display only: a replay reads its recording while planning, before its job runs."""
    _PROGRESS.add(n)


class _ReportingCounter:
    """A Beam counter whose increments also go to this process's progress file."""

    def __init__(self, beam_counter):
        self._counter = beam_counter

    def inc(self, n: int = 1) -> None:
        self._counter.inc(n)
        _PROGRESS.add(n)


class _ProgressFile:
    """This process's count of records in, for the run named by the progress folder it writes to."""

    def __init__(self) -> None:
        self._folder: Optional[str] = None
        self._fd: Optional[int] = None
        self._count = 0
        self._unflushed = 0

    def add(self, n: int) -> None:
        self._unflushed += n
        if n > 1 or self._unflushed >= FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        folder = os.environ.get(PROGRESS_DIR_ENV)
        if folder != self._folder:  # another run (in this process), or none
            self._folder, self._count = folder, 0
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None
        self._count += self._unflushed
        self._unflushed = 0
        if folder is None:
            return
        try:
            if self._fd is None:
                self._fd = os.open(os.path.join(folder, str(os.getpid())), os.O_WRONLY | os.O_CREAT, 0o644)
            os.pwrite(self._fd, b"%*d" % (_WIDTH, self._count), 0)
        except OSError:  # the run has ended and removed its folder: progress is only ever a display
            self._folder = None


_PROGRESS = _ProgressFile()


def progress(folder: str) -> int:
    """Records in so far, over every process that reports to `folder`."""
    total = 0
    for name in os.listdir(folder):
        try:
            with open(os.path.join(folder, name), "rb") as report:
                total += int(report.read(_WIDTH))
        except (OSError, ValueError):
            continue
    return total
