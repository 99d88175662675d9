"""Fraud-scoring scenarios as data: arrivals of payments and logins, watermark steps, and the exact
records with their output timestamps.

`test_fraud_scoring.py` streams each (TestStream on the direct runner and on embedded Flink) through the
streaming plan, and its elements as a bounded input through the backfill's plan. Times are written in
seconds. Each scenario ends with a watermark past every horizon, so every timer has fired before the
stream ends. A scenario that puts a record behind the watermark by more than the lateness injects what
the source would have diverted, to show that state past its horizon is gone.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

from kappa.io import contracts
from kappa.io.replay import AddElements, AdvanceWatermark, Step
from kappa.pipelines import fraud_rules as rules

Payment = contracts.contract("payment").record_type
Device = contracts.contract("device").record_type
DAY = 86_400


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def pay(payment_id: str, account_id: str, device_id: str, seconds: float, amount: float = 10.0,
        country: str = "DE") -> Payment:
    return Payment(payment_id=payment_id, account_id=account_id, device_id=device_id, amount=amount, country=country,
                   event_time=ms(seconds))


def login(device_id: str, account_id: str, seconds: float, country: str = "DE") -> Device:
    return Device(device_id=device_id, account_id=account_id, ip_country=country, event_time=ms(seconds))


def payments(*records: Payment) -> AddElements:
    return AddElements(tuple((r, r.event_time) for r in records), stream="payments")


def logins(*records: Device) -> AddElements:
    return AddElements(tuple((r, r.event_time) for r in records), stream="devices")


def watermark(seconds: float) -> AdvanceWatermark:
    return AdvanceWatermark(ms(seconds))


def scored(at_seconds: float, payment: Payment, *reasons: str) -> Tuple[int, dict]:
    """An expected record and its output timestamp."""
    return ms(at_seconds), rules.scored((payment.event_time, payment.payment_id, payment.account_id,
                                         payment.device_id, payment.amount, payment.country), reasons)


UNKNOWN, ACCOUNT, COUNTRY = rules.UNKNOWN_DEVICE, rules.ACCOUNT_MISMATCH, rules.COUNTRY_MISMATCH
VELOCITY, SPIKE = rules.VELOCITY_RULE, rules.AMOUNT_SPIKE
# Where the bounded plan genuinely differs, one line each.
BATCH_KEEPS_STATE = "a bounded run sees every event at once: what the stream dropped after its horizon is still there"
NOT_ON_FLINK = ("it injects payments behind the watermark (what the source diverts as too late): on Flink whether a "
                "key's horizon timers fire before such a payment reaches the account stage is a race (both outcomes "
                "seen here: 2 failures in 5 runs); test_keyed_state shows state gone after its horizon on Flink, "
                "behind a single stage")


@dataclasses.dataclass(frozen=True)
class FraudScenario:
    name: str
    steps: Tuple[Step, ...]
    expected: Tuple[Tuple[int, dict], ...]  # (output timestamp ms, record)
    lateness_ms: int = 0
    duplicates: int = 0  # redelivered payments dropped
    batch: Optional[Tuple[dict, ...]] = None  # the bounded plan's records; None: those of `expected`
    batch_why: Optional[str] = None
    not_on_flink: Optional[str] = None  # why the scenario has no single outcome on Flink

    def tally(self, records: int) -> Dict[Tuple[str, str], int]:
        """The (stream, measure) -> n the pipeline counts, for `records` payments scored."""
        logins_in = sum(len(step.elements) for step in self.steps
                        if isinstance(step, AddElements) and step.stream == "devices")
        counted = {("payments", "used"): records, ("payments", "duplicates"): self.duplicates,
                   ("devices", "used"): logins_in}
        return {key: n for key, n in counted.items() if n}


P_EDGE_IN = pay("p-in", "a", "d-in", 3_600)
P_EDGE_OUT = pay("p-out", "a", "d-out", 3_600)
P_SAME_TIME = pay("p-same", "a", "d-same", 3_600)
P_TIES = pay("p-ties", "a", "d-ties", 100)
P_UNSEEN = pay("p-unseen", "a", "d-unseen", 100)
P_LATE_LOGIN = pay("p-late-login", "a", "d-late", 100)
P_AT_WATERMARK = pay("p-at-watermark", "a", "d-wm", 200)
P_TWICE = pay("p-twice", "a", "d1", 100, country="FR")
P_ONCE = pay("p-once", "a", "d1", 101)

V3 = [pay(f"v3-{i}", "a", "d-three", s) for i, s in enumerate((0, 10, 20))]
V4 = [pay(f"v4-{i}", "a", "d-four", s) for i, s in enumerate((0, 10, 20, 30))]
V_EDGE_IN = [pay(f"vin-{i}", "a", "d-edge-in", s) for i, s in enumerate((0, 10, 20, 59.999))]
V_EDGE_OUT = [pay(f"vout-{i}", "a", "d-edge-out", s) for i, s in enumerate((0, 10, 20, 60))]


def history(account: str, *at_seconds: float) -> Tuple[Payment, ...]:
    """An account's earlier payments of 10.0, each from a device of its own."""
    return tuple(pay(f"{account}-h{i}", account, f"{account}-d{i}", s) for i, s in enumerate(at_seconds))


T = DAY + 100  # a payment a day and a bit after the first of its history
H2 = history("two-prior", T - 20, T - 10)
H3 = history("three-prior", T - 20, T - 10, T - 5)
H_DAY_IN = history("day-in", T - DAY, T - 10, T - 5)
H_DAY_OUT = history("day-out", T - DAY - 0.001, T - 10, T - 5)
S2 = pay("s2", "two-prior", "s2-d", T, amount=100.0)
S3 = pay("s3", "three-prior", "s3-d", T, amount=50.01)
S3_EQUAL = pay("s3-equal", "three-prior", "s3e-d", T, amount=50.0)  # 5 x the mean: not above it
S_DAY_IN = pay("s-day-in", "day-in", "sdi-d", T, amount=60.0)
S_DAY_OUT = pay("s-day-out", "day-out", "sdo-d", T, amount=60.0)

CLEARED_LOGIN = pay("c-login", "a", "c-d1", 1_800)  # its login, at 0, was exactly 30 min before
CLEARED_VELOCITY = [pay(f"c-v{i}", "a", "c-d2", s) for i, s in enumerate((0, 10, 20))]
CLEARED_VELOCITY_LAST = pay("c-v3", "a", "c-d2", 59.999)
CLEARED_HISTORY = history("c-acct", 0, 1, 2)
CLEARED_SPIKE = pay("c-spike", "c-acct", "c-d3", DAY, amount=60.0)

CLEARED_KEPT = (  # the records if the state were still there
    *(scored(p.event_time / 1000, p, UNKNOWN) for p in (*CLEARED_VELOCITY, *CLEARED_HISTORY)),
    scored(1_800, CLEARED_LOGIN), scored(59.999, CLEARED_VELOCITY_LAST, UNKNOWN, VELOCITY),
    scored(DAY, CLEARED_SPIKE, UNKNOWN, SPIKE))

SCENARIOS = (
    FraudScenario(
        "device_interval_edges_ties_and_an_unseen_device",
        (logins(login("d-in", "a", 1_800), login("d-out", "a", 1_799.999), login("d-same", "a", 3_600),
                login("d-ties", "a", 100), login("d-ties", "b", 100, "FR"), login("d-ties", "c", 99),
                login("d-ties", "z", 100.001)),
         payments(P_EDGE_IN, P_EDGE_OUT, P_SAME_TIME, P_TIES, P_UNSEEN), watermark(10 * DAY)),
        (scored(3_600, P_EDGE_IN), scored(3_600, P_EDGE_OUT, UNKNOWN), scored(3_600, P_SAME_TIME),
         scored(100, P_TIES, ACCOUNT, COUNTRY), scored(100, P_UNSEEN, UNKNOWN)),
    ),
    FraudScenario(
        # Logins that arrive after their payment, behind the watermark but within the 10 s of lateness
        # (one 5 s behind, one exactly 10 s), count: a payment is scored once the watermark has passed
        # its event time plus the lateness.
        "logins_after_their_payment_within_lateness",
        (payments(P_LATE_LOGIN, P_AT_WATERMARK), watermark(105), logins(login("d-late", "b", 95)),
         watermark(110), watermark(200), logins(login("d-wm", "a", 190, "FR")), watermark(210),
         watermark(10 * DAY)),
        (scored(110, P_LATE_LOGIN, ACCOUNT), scored(210, P_AT_WATERMARK, COUNTRY)),
        lateness_ms=10_000,
    ),
    FraudScenario(
        "redelivered_payments_score_once",
        (logins(login("d1", "a", 90)), payments(P_TWICE, P_TWICE, P_ONCE), watermark(100),
         payments(P_TWICE), watermark(10 * DAY)),
        (scored(100, P_TWICE, COUNTRY), scored(101, P_ONCE)),
        duplicates=2,
    ),
    FraudScenario(
        # More than 3 payments of the device in (t - 60s, t]: a fourth within the minute makes it; one
        # exactly 60 s later leaves the first out.
        "velocity_three_four_and_the_minute_edge",
        (payments(*V3, *V4, *V_EDGE_IN, *V_EDGE_OUT), watermark(10 * DAY)),
        tuple(scored(p.event_time / 1000, p, UNKNOWN) for p in (*V3, *V4[:3], *V_EDGE_IN[:3], *V_EDGE_OUT))
        + (scored(30, V4[3], UNKNOWN, VELOCITY), scored(59.999, V_EDGE_IN[3], UNKNOWN, VELOCITY)),
    ),
    FraudScenario(
        # At least 3 earlier payments in [t - 24h, t) and an amount above 5 x their mean (10.0).
        "amount_spike_two_and_three_priors_and_the_day_edge",
        (payments(*H2, *H3, *H_DAY_IN, *H_DAY_OUT), payments(S2, S3, S3_EQUAL, S_DAY_IN, S_DAY_OUT),
         watermark(10 * DAY)),
        tuple(scored(p.event_time / 1000, p, UNKNOWN) for p in (*H2, *H3, *H_DAY_IN, *H_DAY_OUT))
        + (scored(T, S2, UNKNOWN), scored(T, S3, UNKNOWN, SPIKE), scored(T, S3_EQUAL, UNKNOWN),
           scored(T, S_DAY_IN, UNKNOWN, SPIKE), scored(T, S_DAY_OUT, UNKNOWN)),
    ),
    FraudScenario(
        # Past its horizon a login (30 min), a payment (60 s) and an account's history (24 h) are gone:
        # payments injected behind the watermark, which the source would have diverted, find nothing.
        "state_cleared_after_its_horizon",
        (logins(login("c-d1", "a", 0)), payments(*CLEARED_VELOCITY, *CLEARED_HISTORY), watermark(1_800.001),
         payments(CLEARED_LOGIN, CLEARED_VELOCITY_LAST), watermark(DAY + 2.001), payments(CLEARED_SPIKE),
         watermark(10 * DAY)),
        tuple(scored(p.event_time / 1000, p, UNKNOWN) for p in (*CLEARED_VELOCITY, *CLEARED_HISTORY))
        + (scored(1_800, CLEARED_LOGIN, UNKNOWN), scored(59.999, CLEARED_VELOCITY_LAST, UNKNOWN),
           scored(DAY, CLEARED_SPIKE, UNKNOWN)),
        batch=tuple(record for _, record in CLEARED_KEPT),
        batch_why=BATCH_KEEPS_STATE,
        not_on_flink=NOT_ON_FLINK,
    ),
)
