"""The fraud-scoring rules, written once: each rule family is one function of a payment and the sorted
events of one key, called by both plans of `kappa.pipelines.fraud_scoring` (a key's whole input after a
GroupByKey, or a key's state when its timer fires), so the plans cannot drift apart.

For a payment p at event time t (ms):
- the device rules (`device_reasons`): D, the logins of p's device in DEVICE_SEEN, [t - 30m, t]; d*
  the one with the greatest (event_time, account_id, ip_country). `unknown_device` when D is empty,
  else `account_mismatch` when d* logged in another account, `country_mismatch` when from another
  country than the card's;
- `velocity` (`velocity`): more than 3 distinct payments of the device in VELOCITY, (t - 60s, t], p
  included;
- `amount_spike` (`amount_spike`): at least 3 distinct payments of the account in ACCOUNT_HISTORY,
  [t - 24h, t), and p's amount above 5 times their mean. The mean is `math.fsum(amounts) / n`: fsum
  rounds the exact sum once, whatever order the amounts were added in, so every runner, plan and
  state layout computes the same mean bit for bit, and `amount > 5 * mean` decides alike everywhere.
The score is the sum of the points of the rules broken; a score of ALERT_SCORE or more is an alert.

Events are plain tuples here, fast to shuffle with Beam's default coder and ordered as the rules
break ties: a `Login` is (event_time, account_id, ip_country), so the last of a device's sorted logins
at or before t is d*; a `Payment` is (event_time, payment_id, account_id, device_id, amount, country).
"""
from __future__ import annotations

import bisect
import math
from typing import Any, Dict, Iterable, List, Sequence, Tuple

from kappa.transforms.interval_join import Interval
from kappa.transforms.keyed_timeline import Step
from kappa.transforms.tally import DUPLICATES, USED, Tally

MINUTE_MS = 60_000
DAY_MS = 24 * 60 * MINUTE_MS
DEVICE_SEEN = Interval(before_ms=30 * MINUTE_MS, after_ms=0)  # [t - 30m, t]: logins of the device
VELOCITY = Interval(before_ms=MINUTE_MS - 1, after_ms=0)  # (t - 60s, t]: payments of the device
ACCOUNT_HISTORY = Interval(before_ms=DAY_MS, after_ms=-1)  # [t - 24h, t): earlier payments of the account

UNKNOWN_DEVICE, ACCOUNT_MISMATCH, COUNTRY_MISMATCH = "unknown_device", "account_mismatch", "country_mismatch"
VELOCITY_RULE, AMOUNT_SPIKE = "velocity", "amount_spike"
POINTS = {UNKNOWN_DEVICE: 40, ACCOUNT_MISMATCH: 30, COUNTRY_MISMATCH: 20, VELOCITY_RULE: 25, AMOUNT_SPIKE: 30}
ALERT_SCORE = 50
VELOCITY_MORE_THAN = 3  # payments in the interval
SPIKE_HISTORY = 3  # earlier payments needed at least
SPIKE_FACTOR = 5  # times their mean

Login = Tuple[int, str, str]  # event_time, account_id, ip_country
Payment = Tuple[int, str, str, str, float, str]  # event_time, payment_id, account_id, device_id, amount, country
EVENT_TIME, PAYMENT_ID, ACCOUNT_ID, DEVICE_ID, AMOUNT, COUNTRY = range(6)  # a Payment's fields


def device_reasons(payment: Payment, logins: Sequence[Login], login_times: Sequence[int]) -> List[str]:
    """The device rules broken; `logins` sorted, `login_times` their event times."""
    event_ms = payment[EVENT_TIME]
    last = bisect.bisect_right(login_times, event_ms) - 1
    if last < 0 or login_times[last] < event_ms - DEVICE_SEEN.before_ms:
        return [UNKNOWN_DEVICE]
    _, account_id, ip_country = logins[last]
    reasons = []
    if account_id != payment[ACCOUNT_ID]:
        reasons.append(ACCOUNT_MISMATCH)
    if ip_country != payment[COUNTRY]:
        reasons.append(COUNTRY_MISMATCH)
    return reasons


def velocity(event_ms: int, payment_times: Sequence[int]) -> bool:
    """`payment_times`: the sorted event times of the device's distinct payments."""
    within = (bisect.bisect_right(payment_times, event_ms)
              - bisect.bisect_left(payment_times, event_ms - VELOCITY.before_ms))
    return within > VELOCITY_MORE_THAN


def amount_spike(amount: float, event_ms: int, history_times: Sequence[int], history_amounts: Sequence[float]) -> bool:
    """`history_times`: the sorted event times of the account's distinct payments, `history_amounts`
    their amounts in the same order."""
    low = bisect.bisect_left(history_times, event_ms - ACCOUNT_HISTORY.before_ms)
    high = bisect.bisect_left(history_times, event_ms + ACCOUNT_HISTORY.after_ms + 1)
    count = high - low
    return count >= SPIKE_HISTORY and amount > SPIKE_FACTOR * (math.fsum(history_amounts[low:high]) / count)


def scored(payment: Payment, reasons: Iterable[str]) -> Dict[str, Any]:
    """The `payment-score` record of a payment and the rules it broke."""
    reasons = sorted(reasons)
    score = sum(POINTS[reason] for reason in reasons)
    return {"key": payment[PAYMENT_ID], "payment_id": payment[PAYMENT_ID], "account_id": payment[ACCOUNT_ID],
            "device_id": payment[DEVICE_ID], "amount": payment[AMOUNT], "event_time": payment[EVENT_TIME],
            "score": score, "reasons": reasons, "alert": score >= ALERT_SCORE}


def distinct(payments: Iterable[Payment]) -> Tuple[List[Payment], int]:
    """The payments once per payment_id, sorted, and how many redeliveries were left out. A redelivery
    repeats its record; of copies that differ all the same, the smallest is kept, so any order of
    arrival keeps the same one."""
    first: Dict[str, Payment] = {}
    copies = 0
    for payment in payments:
        copies += 1
        kept = first.get(payment[PAYMENT_ID])
        if kept is None or payment < kept:
            first[payment[PAYMENT_ID]] = payment
    return sorted(first.values()), copies - len(first)


def judge_account(payments: Sequence[Payment]) -> List[bool]:
    """Whether each of an account's distinct payments, sorted, is an amount spike: the bounded plan."""
    times = [p[EVENT_TIME] for p in payments]
    amounts = [p[AMOUNT] for p in payments]
    return [amount_spike(p[AMOUNT], p[EVENT_TIME], times, amounts) for p in payments]


def score_device(logins: List[Login], judged: List[Tuple[Payment, bool]]) -> List[Dict[str, Any]]:
    """The records of a device's distinct payments, each with its amount spike verdict, against all of
    the device's logins: the bounded plan."""
    logins.sort()
    login_times = [login[0] for login in logins]
    payment_times = sorted(payment[EVENT_TIME] for payment, _ in judged)
    return [score_payment(payment, spike, logins, login_times, payment_times) for payment, spike in judged]


def score_payment(payment: Payment, spike: bool, logins: Sequence[Login], login_times: Sequence[int],
                  payment_times: Sequence[int]) -> Dict[str, Any]:
    """A payment's record, from its device's sorted logins and payment times and its spike verdict."""
    reasons = device_reasons(payment, logins, login_times)
    if velocity(payment[EVENT_TIME], payment_times):
        reasons.append(VELOCITY_RULE)
    if spike:
        reasons.append(AMOUNT_SPIKE)
    return scored(payment, reasons)


# The streaming plan: a stage keyed by device_id and one keyed by account_id (`KeyedTimeline`), each
# fed the payments as they arrive; the account stage's verdicts go on to the device stage, which
# scores a payment once its verdict has come and the watermark has passed its event time plus the
# allowed lateness. Entries are (kind, value) pairs.
LOGIN, PAYMENT, SCORED, VERDICT, JUDGED, PASSED = range(6)
Verdict = Tuple[int, str, bool]  # event_time, payment_id, amount spike


class DeviceTimeline:
    """A device's logins (LOGIN), its payments waiting to be scored (PAYMENT), those scored
    (SCORED: event_time, payment_id), the account stage's verdicts (VERDICT) and the latest point
    passed (PASSED) -> `payment-score` records, and the payments' tally.

    A verdict arms the point where its payment is scored: once the watermark has passed the payment's
    event time plus the lateness, every login and payment of the device at or before it has arrived.
    Flink holds the account stage's output watermark at its timers, so there the verdict is in state
    before that point is passed. The direct runner has no such hold: a verdict may come after later
    points of the device have passed, and its timer, set in the past, fires with its own, earlier
    point. So a waiting payment keeps the logins and payments it needs past their horizons, and the
    device remembers the latest point passed, which bounds the watermark from below, to drop them
    once it is scored. A redelivered payment is dropped, and counted, at the next point passed.
    """

    def __init__(self, stream: str, lateness_ms: int):
        self._stream = stream
        self._lateness_ms = lateness_ms

    def points(self, entry: tuple) -> Iterable[int]:
        kind, value = entry
        if kind == LOGIN:
            return (value[0] + DEVICE_SEEN.before_ms + self._lateness_ms,)
        if kind == PAYMENT:
            return (value[EVENT_TIME] + VELOCITY.before_ms + self._lateness_ms,)
        return (value[0] + self._lateness_ms,)  # a verdict: its payment's turn

    def act(self, key: str, entries: List[tuple], now_ms: int) -> Step:
        logins: List[Login] = []
        arrived: List[Payment] = []
        scored_at: Dict[str, int] = {}
        verdicts: List[Verdict] = []
        passed_before = -math.inf
        for kind, value in entries:
            if kind == LOGIN:
                logins.append(value)
            elif kind == PAYMENT:
                arrived.append(value)
            elif kind == SCORED:
                scored_at[value[1]] = value[0]
            elif kind == VERDICT:
                verdicts.append(value)
            else:
                passed_before = max(passed_before, value)
        passed = max(now_ms, passed_before)
        waiting_list, duplicates = distinct(p for p in arrived)
        waiting = {p[PAYMENT_ID]: p for p in waiting_list if p[PAYMENT_ID] not in scored_at}
        duplicates += len(waiting_list) - len(waiting)
        due = sorted(v for v in verdicts if v[0] + self._lateness_ms <= passed)
        outputs = []
        if due:
            logins.sort()
            login_times = [login[0] for login in logins]
            payment_times = sorted([*scored_at.values(), *(p[EVENT_TIME] for p in waiting.values())])
            for event_ms, payment_id, spike in due:
                payment = waiting.pop(payment_id, None)
                if payment is not None:  # else a verdict of an id this device never paid with
                    outputs.append((event_ms + self._lateness_ms,
                                    score_payment(payment, spike, logins, login_times, payment_times)))
                    scored_at[payment_id] = payment[EVENT_TIME]
        oldest_waiting = min((p[EVENT_TIME] for p in waiting.values()), default=math.inf)
        horizon = passed - self._lateness_ms
        kept_logins = [login for login in logins if login[0] + DEVICE_SEEN.before_ms > horizon
                       or login[0] >= oldest_waiting - DEVICE_SEEN.before_ms]
        kept_scored = [(t, payment_id) for payment_id, t in scored_at.items() if t + VELOCITY.before_ms > horizon
                       or t >= oldest_waiting - VELOCITY.before_ms]
        tally = []
        if outputs:
            tally.append(Tally(self._stream, USED, len(outputs)))
        if duplicates:
            tally.append(Tally(self._stream, DUPLICATES, duplicates))
        if not (due or duplicates or passed > passed_before or len(kept_logins) < len(logins)
                or len(kept_scored) < len(scored_at)):
            return Step()
        kept = ([(LOGIN, login) for login in kept_logins] + [(PAYMENT, p) for p in waiting.values()]
                + [(SCORED, s) for s in kept_scored]
                + [(VERDICT, v) for v in verdicts if v[0] + self._lateness_ms > passed])
        if kept:
            kept.append((PASSED, passed))
        return Step(outputs, kept, tally)


class AccountTimeline:
    """An account's payments waiting for their verdict (PAYMENT) and those judged (JUDGED:
    event_time, payment_id, amount) -> (device_id, (VERDICT, verdict)) for the device stage.

    A payment is judged once the watermark has passed its event time plus the lateness: the account's
    earlier payments have all arrived by then. A judged payment is kept as history for a day plus the
    lateness; a redelivery is dropped (the device stage counts it).
    """

    def __init__(self, lateness_ms: int):
        self._lateness_ms = lateness_ms

    def points(self, entry: tuple) -> Iterable[int]:
        event_ms = entry[1][EVENT_TIME]
        return event_ms + self._lateness_ms, event_ms + ACCOUNT_HISTORY.before_ms + self._lateness_ms

    def act(self, key: str, entries: List[tuple], now_ms: int) -> Step:
        judged: Dict[str, Tuple[int, str, float]] = {}
        arrived: List[Payment] = []
        for kind, value in entries:
            if kind == JUDGED:
                judged[value[1]] = value
            else:
                arrived.append(value)
        waiting = [p for p in distinct(arrived)[0] if p[PAYMENT_ID] not in judged]
        due = [p for p in waiting if p[EVENT_TIME] + self._lateness_ms <= now_ms]
        outputs = []
        if due:
            history = sorted([*judged.values(), *((p[EVENT_TIME], p[PAYMENT_ID], p[AMOUNT]) for p in waiting)])
            times = [h[0] for h in history]
            amounts = [h[2] for h in history]
            for payment in due:
                spike = amount_spike(payment[AMOUNT], payment[EVENT_TIME], times, amounts)
                verdict = (payment[EVENT_TIME], payment[PAYMENT_ID], spike)
                outputs.append((payment[EVENT_TIME] + self._lateness_ms, (payment[DEVICE_ID], (VERDICT, verdict))))
                judged[payment[PAYMENT_ID]] = (payment[EVENT_TIME], payment[PAYMENT_ID], payment[AMOUNT])
        horizon = now_ms - self._lateness_ms
        kept_judged = [h for h in judged.values() if h[0] + ACCOUNT_HISTORY.before_ms > horizon]
        if not due and len(arrived) == len(waiting) and len(kept_judged) == len(judged):
            return Step()
        return Step(outputs, [(JUDGED, h) for h in kept_judged]
                    + [(PAYMENT, p) for p in waiting if p[EVENT_TIME] + self._lateness_ms > now_ms])
