"""Fraud scoring: every card payment scored against its device's logins and recent payments and its
account's last day of payments, the risky ones sent on as alerts.

Two inputs: `payments` and `devices` (the logins the fingerprinting service saw). For each distinct
payment_id (a redelivery counts once) the rules of `kappa.pipelines.fraud_rules` give reasons and a
score; every payment's record goes to `results`, those scoring 50 or more to `alerts` too. The rules
look at three intervals around the payment's event time t, declared once (`windowing()`): the
device's logins in [t - 30m, t], its payments in (t - 60s, t], the account's payments in [t - 24h, t).

A stream scores a payment once, when the watermark has passed its event time plus the allowed
lateness (default 0, `--allowed-lateness`): by then the source has let through every record that can
change its score and diverted the rest as too late, so a stream, a replay and a backfill give the
same records. Two plans, one set of rule functions:
- streaming (`ScoreStream`): a stage keyed by account_id holds each account's day of payments and
  judges each payment's amount when its time comes; a stage keyed by device_id holds the device's
  logins and last minute of payments and scores each payment once its account's verdict is in. Both
  read the payments as they arrive (`kappa.transforms.keyed_timeline`); state is bounded by the
  intervals plus the lateness.
- bounded (`ScoreBackfill`, a backfill): each account's payments grouped and judged at once, then each
  device's logins and judged payments grouped and scored at once, sorted, with bisect; no timers.

Tally: payments used (distinct payments scored) and duplicates (redeliveries dropped); devices used
(every login taken in: a redelivered login is the same login, which changes no rule, so logins are
not deduplicated and their duplicates are 0).

    kappa run fraud-scoring --input payments=archive/payments --input devices=archive/devices --output out/
    kappa run fraud-scoring --mode stream --runner flink --input-topic payments=payments \\
        --input-topic devices=devices --alert-webhook https://alerts.example/hook
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Any, ClassVar, Dict, Iterable, Mapping, Tuple

import apache_beam as beam

from kappa.pipelines import fraud_rules as rules
from kappa.pipelines.model import ALERTS, MAIN_OUTPUT, TALLY, Input, Output, Pipeline
from kappa.transforms.aggregation import Arrives
from kappa.transforms.keyed_timeline import TALLY_TAG, BundleTally, KeyedTimeline
from kappa.transforms.tally import USED, DUPLICATES, Tally

PAYMENTS, DEVICES = "payments", "devices"
Keyed = beam.typehints.Tuple[str, Any]  # (key, entry)


def payment_of(record: Any) -> rules.Payment:
    return (record.event_time, record.payment_id, record.account_id, record.device_id, record.amount,
            record.country)


def _by_account(record: Any) -> Keyed:
    return record.account_id, (rules.PAYMENT, payment_of(record))


def _by_device(record: Any) -> Keyed:
    return record.device_id, (rules.PAYMENT, payment_of(record))


def _login(record: Any) -> Keyed:
    return record.device_id, (rules.LOGIN, (record.event_time, record.account_id, record.ip_country))


class _Logins(beam.DoFn):
    """Device events -> (device_id, LOGIN entry), counted as used."""

    def start_bundle(self) -> None:
        self._tally = BundleTally()
        self._taken = 0

    def process(self, record: Any):
        self._taken += 1
        yield _login(record)

    def finish_bundle(self):
        if self._taken:
            self._tally.add(Tally(DEVICES, USED, self._taken))
        return self._tally.flushed()


def _logins(devices: beam.PCollection) -> Tuple[beam.PCollection, beam.PCollection]:
    """Device events -> ((device_id, LOGIN entry), their tally)."""
    logins = devices | "Logins" >> beam.ParDo(_Logins()).with_outputs(TALLY_TAG, main="logins")
    logins.logins.element_type = Keyed
    return logins.logins, logins[TALLY_TAG]


class ScoreStream(beam.PTransform):
    """{payments, devices} -> (scored records, tally), by keyed event-time state and timers."""

    def __init__(self, lateness_ms: int):
        super().__init__()
        self._lateness_ms = lateness_ms

    def expand(self, streams):
        logins, logins_tally = _logins(streams[DEVICES])
        verdicts = (streams[PAYMENTS]
                    | "ByAccount" >> beam.Map(_by_account).with_output_types(Keyed)
                    | "JudgeAccounts" >> KeyedTimeline(rules.AccountTimeline(self._lateness_ms), Keyed))
        scored = (
            (logins, streams[PAYMENTS] | "ByDevice" >> beam.Map(_by_device).with_output_types(Keyed),
             verdicts.outputs)
            | "DeviceEvents" >> beam.Flatten()
            | "ScoreDevices" >> KeyedTimeline(rules.DeviceTimeline(PAYMENTS, self._lateness_ms), Dict[str, Any])
        )
        tally = (logins_tally, scored.tally) | "Tally" >> beam.Flatten()
        return scored.outputs, tally


class _JudgeAccounts(beam.DoFn):
    """(account_id, payments) -> (device_id, (PAYMENT, (payment, spike))) per distinct payment."""

    def start_bundle(self) -> None:
        self._tally = BundleTally()

    def process(self, grouped: Tuple[str, Iterable[rules.Payment]]):
        payments, duplicates = rules.distinct(entry[1] for entry in grouped[1])
        for payment, spike in zip(payments, rules.judge_account(payments)):
            yield payment[rules.DEVICE_ID], (rules.PAYMENT, (payment, spike))
        self._tally.add(Tally(PAYMENTS, USED, len(payments)))
        if duplicates:
            self._tally.add(Tally(PAYMENTS, DUPLICATES, duplicates))

    def finish_bundle(self):
        return self._tally.flushed()


def _score_device(grouped: Tuple[str, Iterable[Tuple[int, Any]]]):
    logins, judged = [], []
    for kind, value in grouped[1]:
        (logins if kind == rules.LOGIN else judged).append(value)
    return rules.score_device(logins, judged)


class ScoreBackfill(beam.PTransform):
    """{payments, devices} -> (scored records, tally), each key's events grouped and scored at once."""

    def expand(self, streams):
        logins, logins_tally = _logins(streams[DEVICES])
        judged = (streams[PAYMENTS]
                  | "ByAccount" >> beam.Map(_by_account).with_output_types(Keyed)
                  | "GroupByAccount" >> beam.GroupByKey()
                  | "JudgeAccounts" >> beam.ParDo(_JudgeAccounts()).with_outputs(TALLY_TAG, main="judged"))
        judged.judged.element_type = Keyed
        scored = (
            (logins, judged.judged)
            | "DeviceEvents" >> beam.Flatten()
            | "GroupByDevice" >> beam.GroupByKey()
            | "ScoreDevices" >> beam.FlatMap(_score_device).with_output_types(Dict[str, Any])
        )
        tally = (logins_tally, judged[TALLY_TAG]) | "Tally" >> beam.Flatten()
        return scored, tally


def _is_alert(record: Dict[str, Any]) -> bool:
    return record["alert"]


class ScoreFigures(beam.CombineFn):
    """Scored records -> how many, how many alerts, and how many broke each rule."""

    def create_accumulator(self) -> collections.Counter:
        return collections.Counter()

    def add_input(self, counts: collections.Counter, record: Dict[str, Any]) -> collections.Counter:
        counts["scored"] += 1
        counts["alerts"] += record["alert"]
        counts.update(record["reasons"])
        return counts

    def merge_accumulators(self, accumulators: Iterable[collections.Counter]) -> collections.Counter:
        merged = collections.Counter()
        for counts in accumulators:
            merged.update(counts)
        return merged

    def extract_output(self, counts: collections.Counter) -> Dict[str, Any]:
        return {"scored": counts["scored"], "alerts": counts["alerts"],
                "per_reason": {reason: counts[reason] for reason in sorted(rules.POINTS)}}


@dataclasses.dataclass(frozen=True)
class FraudScoring(Pipeline):
    name: ClassVar[str] = "fraud-scoring"
    description: ClassVar[str] = ("each payment scored against its device's logins and recent payments and its "
                                  "account's day of payments; alerts at a score of 50")
    inputs: ClassVar[Mapping[str, Input]] = {PAYMENTS: Input("payment", key="payment_id"),
                                             DEVICES: Input("device", key="device_id")}
    outputs: ClassVar[Mapping[str, Output]] = {
        MAIN_OUTPUT: Output("payment-score", topic="fraud-scores", doc="every distinct payment's score"),
        ALERTS: Output("payment-score", topic="fraud-alerts", doc="the payments with a score of 50 or more"),
    }

    def windowing(self) -> Dict[str, Any]:
        return {"device_logins": rules.DEVICE_SEEN, "device_payments": rules.VELOCITY,
                "account_payments": rules.ACCOUNT_HISTORY}

    def expand(self, streams: Mapping[str, beam.PCollection], arrives: Mapping[str, Arrives]) -> Dict[str, Any]:
        plan = ScoreBackfill() if self.bounded else ScoreStream(self.lateness_ms)
        scored, tally = dict(streams) | "Score" >> plan
        return {MAIN_OUTPUT: scored, ALERTS: scored | "Alerts" >> beam.Filter(_is_alert), TALLY: tally}

    def figures(self) -> "ScoreFigures":
        return ScoreFigures()


PIPELINE = FraudScoring()
