"""Counter names shared by the transforms and the run summary (namespace `kappa`)."""
from apache_beam.metrics import Metrics

NAMESPACE = "kappa"
RECORDS_IN = "records_in"
DEAD_LETTERS = "dead_letters"
ACCEPTED = "accepted"  # valid records taken into a window's final result, redeliveries included
COUNTED = "counted"  # distinct records in final results


def counter(name: str):
    return Metrics.counter(NAMESPACE, name)
