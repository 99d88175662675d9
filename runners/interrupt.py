"""Ctrl-C during a run ends it as an interruption, whatever Beam makes of the KeyboardInterrupt.

Beam's FnApiRunner logs an exception raised inside a transform as an error of that transform, and
re-raises it as a RuntimeError naming it: a Ctrl-C that lands there would print a traceback and end
as "RuntimeError: KeyboardInterrupt [while running ...]". While a run is `Interruptible`, Beam's log
records after a Ctrl-C are dropped, so are the tracebacks of threads that die of the shutdown (gRPC
streams to a job server or workers being closed), and any exception after it is the interruption.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading

EXIT_STATUS = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


def report() -> int:
    """The one line of an interrupted command; returns its exit status."""
    print("kappa: interrupted", file=sys.stderr)
    return EXIT_STATUS


class Interruptible:
    """A context: an exception raised in it after a Ctrl-C leaves it as KeyboardInterrupt."""

    def __init__(self) -> None:
        self._interrupted = False
        self._previous = None
        self._thread_hook = threading.excepthook

    def __enter__(self) -> "Interruptible":
        if threading.current_thread() is threading.main_thread():  # only the main thread gets signals
            self._previous = signal.signal(signal.SIGINT, self._interrupt)
            for handler in logging.getLogger().handlers:
                handler.addFilter(self._not_from_beam_once_interrupted)
            threading.excepthook = self._thread_died
        return self

    def _thread_died(self, args) -> None:
        if not self._interrupted:
            self._thread_hook(args)

    def _interrupt(self, signum, frame) -> None:
        self._interrupted = True
        raise KeyboardInterrupt

    def _not_from_beam_once_interrupted(self, record: logging.LogRecord) -> bool:
        return not (self._interrupted and record.name.startswith("apache_beam"))

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            if not self._interrupted:  # else the process is ending, and its threads with it, quietly
                for handler in logging.getLogger().handlers:
                    handler.removeFilter(self._not_from_beam_once_interrupted)
                threading.excepthook = self._thread_hook
        if exc_type is not None and self._interrupted and not issubclass(exc_type, KeyboardInterrupt):
            raise KeyboardInterrupt from None
