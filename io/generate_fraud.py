"""Realistic, seedable archives for fraud scoring: card `payments` and the `devices` seen at login.

Accounts have a few devices each. A customer logs in on one of them (a device event) and pays from it
within minutes, in the card's country, which is mostly the login's. Among those sessions run the
patterns the fraud-scoring rules exist for:
- travel: the login comes from abroad, the payment from home (country_mismatch);
- a spike: an amount far above the account's usual ones (amount_spike, once the account has a history);
- a new device: a payment from a device never seen at a login (unknown_device);
- a stolen device: minutes after its owner logged in on it, it pays on another account
  (account_mismatch, often with country_mismatch);
- card testing: a fraudster's device tries 4 to 8 stolen cards within 45 s (velocity), unseen at any
  login or logged in on a mule account;
- and logins without a payment (browsing).

Sessions start along `kappa.io.generate`'s daily curve, and each stream is written as that module writes
orders: in arrival order (most records within a second or two, a few stragglers minutes late, never
later than `max_delay_ms` when it is set), one file per hour of arrival, some records redelivered
(identical, same id) and a handful malformed. Avro files of the earlier hours are written with each
contract's v1, those of the later hours with v2, and records first sent in those later hours carry
v2's optional field (`merchant_id`, `user_agent`). The same seed always gives the same archive, byte
for byte, and both formats carry the same valid records.
"""
from __future__ import annotations

import bisect
import dataclasses
import itertools
import json
import math
import operator
import os
import random
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from kappa.io import generate

COUNTRIES: Dict[str, float] = {
    "DE": 0.17, "US": 0.16, "GB": 0.14, "FR": 0.12, "ES": 0.07, "IT": 0.07,
    "NL": 0.05, "PL": 0.05, "BR": 0.05, "SE": 0.04, "IN": 0.04, "JP": 0.04,
}
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 Version/18.1 Safari/605.1.15",
    "okhttp/4.12.0",
)
PAYMENTS_PER_ACCOUNT = 8  # over the whole archive, on average
MERCHANTS = 5_000
MINUTE_MS = 60_000
SESSION_MS = 25 * MINUTE_MS  # a session's payments follow its login within this, inside the rules' 30 min
BURST_MS = 45_000  # a card-testing burst, inside the velocity rule's minute


@dataclasses.dataclass(frozen=True)
class FraudConfig(generate.Delivery):
    """Sessions start within `hours` from `start_ms` (their payments may follow up to 25 minutes later)
    until there are `payments` distinct payments; the devices stream has as many logins as they make."""

    payments: int = 200_000


@dataclasses.dataclass(frozen=True)
class GeneratedFraudArchive:
    payments: generate.GeneratedArchive
    devices: generate.GeneratedArchive


class _Account(NamedTuple):
    account_id: str
    country: str
    devices: Tuple[str, ...]
    log_amount: float  # the log of its usual amount


class _Traffic:
    """The accounts, and the events of the sessions played on them (each public method is a pattern),
    as tuples in the order they were played: logins (event_time, device_id, account_id, ip_country) and
    payments (event_time, account_id, device_id, amount, country)."""

    def __init__(self, rng: random.Random, config: FraudConfig):
        self.rng = rng
        self.seed = config.seed
        self.countries = list(COUNTRIES)
        self.devices_made = 0
        weights = list(COUNTRIES.values())
        self.accounts = [
            _Account(f"a-{config.seed}-{i:07d}", rng.choices(self.countries, weights)[0],
                     tuple(self._new_device() for _ in range(1 + (rng.random() < 0.5) + (rng.random() < 0.2))),
                     rng.gauss(3.4, 0.5))
            for i in range(max(2, config.payments // PAYMENTS_PER_ACCOUNT))
        ]
        self.logins: List[tuple] = []
        self.payments: List[tuple] = []

    def _below(self, n: int) -> int:
        """As `rng.randrange(n)`, several times faster, which a million sessions feel."""
        return int(self.rng.random() * n)

    def _new_device(self) -> str:
        self.devices_made += 1
        return f"d-{self.seed}-{self.devices_made:08d}"

    def _account(self) -> _Account:
        return self.accounts[self._below(len(self.accounts))]

    def _abroad(self, home: str) -> str:
        return self.countries[(self.countries.index(home) + 1 + self._below(len(self.countries) - 1))
                              % len(self.countries)]

    def _usual_amount(self, account: _Account) -> float:
        return max(0.01, round(self.rng.lognormvariate(account.log_amount, 0.5), 2))

    def _session(self, at: int, abroad: bool = False) -> Tuple[_Account, str]:
        """An account logs in on one of its devices, from home or from abroad."""
        account = self._account()
        device = account.devices[self._below(len(account.devices))]
        self.logins.append((at, device, account.account_id,
                            self._abroad(account.country) if abroad else account.country))
        return account, device

    def _pay(self, at: int, account: _Account, device: str, amount: float) -> None:
        self.payments.append((at, account.account_id, device, amount, account.country))

    def purchase(self, at: int, abroad: bool = False) -> None:
        account, device = self._session(at, abroad)
        for _ in range(1 + (self.rng.random() < 0.4) + (self.rng.random() < 0.15)):
            self._pay(at + 3_000 + self._below(SESSION_MS - 3_000), account, device, self._usual_amount(account))

    def browse(self, at: int) -> None:
        self._session(at)

    def travel(self, at: int) -> None:
        self.purchase(at, abroad=True)

    def spike(self, at: int) -> None:
        account, device = self._session(at)
        amount = round(math.exp(account.log_amount) * self.rng.uniform(8, 20), 2)
        self._pay(at + 3_000 + self._below(SESSION_MS - 3_000), account, device, amount)

    def new_device(self, at: int) -> None:
        account = self._account()
        self._pay(at, account, self._new_device(), self._usual_amount(account))

    def stolen_device(self, at: int) -> None:
        owner, device = self._session(at)
        card = self._account()
        while card is owner:
            card = self._account()
        for _ in range(1 + (self.rng.random() < 0.3)):
            amount = round(math.exp(card.log_amount) * self.rng.uniform(2, 6), 2)
            self._pay(at + 30_000 + self._below(SESSION_MS - 30_000), card, device, amount)

    def card_testing(self, at: int) -> None:
        device = self._new_device()
        if self.rng.random() < 0.5:
            mule = self._account()
            self.logins.append((at, device, mule.account_id, self._abroad(mule.country)))
        for offset in sorted(self._below(BURST_MS) for _ in range(4 + self._below(5))):
            self._pay(at + 1_000 + offset, self._account(), device, round(self.rng.uniform(0.5, 3.0), 2))


def _traffic(rng: random.Random, config: FraudConfig) -> _Traffic:
    """Sessions, each starting along the daily curve, until there are `config.payments` payments."""
    traffic = _Traffic(rng, config)
    patterns: List[Tuple[float, Callable[[int], None]]] = [
        (0.723, traffic.purchase), (0.15, traffic.browse), (0.04, traffic.travel), (0.03, traffic.spike),
        (0.04, traffic.new_device), (0.012, traffic.stolen_device), (0.005, traffic.card_testing),
    ]
    pattern_at = list(itertools.accumulate(weight for weight, _ in patterns))
    minute_at = list(itertools.accumulate(generate.daily_intensity((m / 60) % 24) for m in range(config.hours * 60)))
    while len(traffic.payments) < config.payments:
        minute = bisect.bisect(minute_at, rng.random() * minute_at[-1], 0, len(minute_at) - 1)
        at = config.start_ms + minute * MINUTE_MS + traffic._below(MINUTE_MS)
        patterns[bisect.bisect(pattern_at, rng.random() * pattern_at[-1], 0, len(patterns) - 1)][1](at)
    del traffic.payments[config.payments:]
    return traffic


@dataclasses.dataclass(frozen=True)
class _Stream:
    name: str  # its folder and its files' prefix
    subject: str
    country_field: str
    optional_field: str  # v2's
    optional_value: Callable[[random.Random], Optional[str]]


PAYMENTS = _Stream("payments", "payment", "country", "merchant_id",
                   lambda rng: None if rng.random() < 0.1 else f"m-{int(rng.random() * MERCHANTS):05d}")
DEVICES = _Stream("devices", "device", "ip_country", "user_agent",
                  lambda rng: None if rng.random() < 0.1 else USER_AGENTS[int(rng.random() * len(USER_AGENTS))])


def _malformed(rng: random.Random, valid: dict, as_text: bool, stream: _Stream) -> object:
    """A broken record; JSON can break in more ways than an Avro record, which must still fit its schema."""
    ids = [name for name in ("payment_id", "account_id", "device_id") if name in valid]
    avro_breaks = [
        {**valid, rng.choice(ids): rng.choice(("", " "))},
        {**valid, stream.country_field: valid[stream.country_field].lower()},
    ]
    if "amount" in valid:
        avro_breaks += [{**valid, "amount": 0.0}, {**valid, "amount": -valid["amount"]}]
    if not as_text:
        return rng.choice(avro_breaks)
    missing = rng.choice([name for name in valid if name != stream.optional_field])
    text_breaks = [json.dumps(b) for b in avro_breaks] + [
        json.dumps(valid)[:-7],
        json.dumps({k: v for k, v in valid.items() if k != missing}),
        json.dumps({**valid, "event_time": str(valid["event_time"])}),
        json.dumps({**valid, rng.choice(ids): 12345}),
        "not json at all",
    ]
    return rng.choice(text_breaks)


def _arrivals(rng: random.Random, breakage: random.Random, records: List[dict], config: FraudConfig,
              as_text: bool, stream: _Stream) -> generate.StreamArrivals:
    timed, malformed_at = generate.deliveries(rng, records, config)
    v2_from = generate.first_latest_hour({t[0] // generate.HOUR_MS for t in timed}) * generate.HOUR_MS
    arrived: List[Tuple[int, object]] = []
    for arrival, seq, copy, record in timed:
        if copy == 0 and arrival >= v2_from:
            record[stream.optional_field] = stream.optional_value(rng)
        arrived.append((arrival, _malformed(breakage, record, as_text, stream) if seq in malformed_at else record))
    return generate.StreamArrivals(arrived, len(records), len(malformed_at))


@generate.without_cycle_collection()
def fraud_arrivals(config: FraudConfig, as_text: bool) -> Dict[str, generate.StreamArrivals]:
    """Per stream, "payments" and "devices", its records in arrival order; a record is a dict, or text
    for a malformed JSON line."""
    rng = random.Random(config.seed)
    breakage = random.Random(config.seed + 1)  # apart, so both formats carry the same valid records
    traffic = _traffic(rng, config)
    payments = [
        {"payment_id": f"p-{config.seed}-{seq:09d}", "account_id": account_id, "device_id": device_id,
         "amount": amount, "country": country, "event_time": event_time}
        for seq, (event_time, account_id, device_id, amount, country)
        in enumerate(sorted(traffic.payments, key=operator.itemgetter(0)))
    ]
    devices = [
        {"device_id": device_id, "account_id": account_id, "ip_country": ip_country, "event_time": event_time}
        for event_time, device_id, account_id, ip_country in sorted(traffic.logins, key=operator.itemgetter(0))
    ]
    return {stream.name: _arrivals(rng, breakage, records, config, as_text, stream)
            for stream, records in ((PAYMENTS, payments), (DEVICES, devices))}


def write_fraud_archive(config: FraudConfig, output_dir: str, fmt: str) -> GeneratedFraudArchive:
    """`<output_dir>/payments/payments-YYYYmmdd-HH.<jsonl|avro>` and `<output_dir>/devices/devices-...`,
    one file per hour of arrival (`generate.write_hourly_files`)."""
    arrivals = fraud_arrivals(config, as_text=(fmt == "jsonl"))
    return GeneratedFraudArchive(**{
        stream.name: generate.write_stream(arrivals[stream.name], os.path.join(output_dir, stream.name), stream.name,
                                           fmt, stream.subject)
        for stream in (PAYMENTS, DEVICES)})
