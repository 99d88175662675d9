"""The worker process of a batch run with worker processes (`--workers`): Beam's SDK worker, quiet.

It silences two warnings no user can act on: Google's client libraries' on import, and Beam's worker
finding no main session to load (kappa's code lives in modules, never in `__main__`). Its command,
`profiles.WORKER_COMMAND`, makes it ignore Ctrl-C, which the CLI handles.
"""
import logging
import sys

from kappa.runners.quiet import silence_google_client_warnings

silence_google_client_warnings()

from apache_beam.runners.worker import sdk_worker_main  # noqa: E402 (after the warnings filter)

_NO_MAIN_SESSION = "No semi_persistent_directory found"


def _not_about_the_main_session(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_NO_MAIN_SESSION)


if __name__ == "__main__":
    logging.getLogger(sdk_worker_main.__name__).addFilter(_not_about_the_main_session)
    sdk_worker_main.main(sys.argv)
