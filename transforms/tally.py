"""Counts of what a run did with each input's records, carried as data, not as metrics: they reach the
run's summary the same way on every runner and whatever the sinks are. Sources count what they read
(RECORDS_IN, DEAD_LETTERS, TOO_LATE); a pipeline counts what it used (USED, DUPLICATES)."""
from typing import NamedTuple


class Tally(NamedTuple):
    stream: str  # the input the records came from
    measure: str  # one of MEASURES
    n: int


RECORDS_IN = "records_in"
USED = "used"  # records the pipeline took into account
DUPLICATES = "duplicates"  # redeliveries of records it had already taken
DEAD_LETTERS = "dead_letters"
TOO_LATE = "too_late"
MEASURES = (RECORDS_IN, USED, DUPLICATES, DEAD_LETTERS, TOO_LATE)
