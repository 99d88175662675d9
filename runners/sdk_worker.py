"""The worker process of a batch run with worker processes (`--workers`): Beam's SDK worker, quiet.

It silences two warnings no user can act on: Google's client libraries' on import, and Beam's worker
finding no main session to load (kappa's code lives in modules, never in `__main__`).

Ctrl-C is the CLI's: a terminal sends it to the whole process group, and the CLI, interrupted, tells
each worker to stop. Its command, `profiles.WORKER_COMMAND`, ignores the signal until the worker is
ready to take it as "be quiet from now on": a worker whose bundle the stop cuts short prints Beam's
traceback of that bundle, which would follow the CLI's one line (seen in CI). So every thread of the
worker blocks the signal, one waits for it, and sends stderr to /dev/null when it comes; the worker
goes on until the runner stops it.
"""
import logging
import os
import signal
import sys
import threading

_NO_MAIN_SESSION = "No semi_persistent_directory found"


def _not_about_the_main_session(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_NO_MAIN_SESSION)


def _quiet_after_ctrl_c() -> None:
    """Before Beam and gRPC are imported, so before any other thread starts (threads inherit the blocked
    signal): none but the waiter takes it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.default_int_handler)  # no longer ignored, only blocked: pending for the waiter

    def wait() -> None:
        signal.sigwait({signal.SIGINT})
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())

    threading.Thread(target=wait, name="quiet-after-ctrl-c", daemon=True).start()


def main() -> None:
    _quiet_after_ctrl_c()
    from kappa.runners.quiet import silence_google_client_warnings
    silence_google_client_warnings()
    from apache_beam.runners.worker import sdk_worker_main  # after the warnings filter
    logging.getLogger(sdk_worker_main.__name__).addFilter(_not_about_the_main_session)
    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
