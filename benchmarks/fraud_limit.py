"""The fraud-scoring job's bare-Python limit: one process, fastavro's reader, dicts, lists and bisect.

    python -m kappa.benchmarks.fraud_limit --archive DIR [--generate N [--seed S]]

scores every distinct payment of `DIR/payments/*.avro` against `DIR/devices/*.avro` by the rules of
the `fraud-scoring` pipeline and prints records/s; `--generate N` first writes a seeded archive of N
payments there (`kappa.io.generate_fraud`). No framework, no windows, no state beyond the archive in
memory: what scoring costs at the least in Python, for a pipeline's figures to be measured against.
"""
import argparse
import bisect
import collections
import gc
import glob
import math
import os
import sys
import time
from typing import Dict, Iterable, List, Optional, Tuple

from kappa.benchmarks.avro_archive import EPOCH, MAX_EVENT_TIME_MS, MILLISECOND, count, records, valid_id

DEVICE_WINDOW_MS = 30 * 60_000
VELOCITY_WINDOW_MS = 60_000
HISTORY_WINDOW_MS = 24 * 3_600_000
POINTS = {"unknown_device": 40, "account_mismatch": 30, "country_mismatch": 20, "velocity": 25, "amount_spike": 30}
ALERT_SCORE = 50

Login = Tuple[int, str, str]  # event_time, account_id, ip_country
Payment = Tuple[int, str, str, float, str]  # event_time, account_id, device_id, amount, country


class _CountryCodes(Dict[str, bool]):
    """code -> whether it is two upper-case letters A-Z, worked out once per code: an archive has few."""

    def __missing__(self, code: str) -> bool:
        self[code] = ok = len(code) == 2 and code.isascii() and code.isalpha() and code.isupper()
        return ok


def read_devices(paths: Iterable[str]) -> Dict[str, Tuple[List[int], List[Login]]]:
    """device_id -> (event times, logins), both sorted by (event_time, account_id, ip_country)."""
    countries = _CountryCodes()
    seen: Dict[str, List[Login]] = {}
    for d in records(paths):
        device_id, account_id, country = valid_id(d["device_id"]), valid_id(d["account_id"]), d["ip_country"]
        event_ms = (d["event_time"] - EPOCH) // MILLISECOND
        if device_id and account_id and countries[country] and 0 <= event_ms <= MAX_EVENT_TIME_MS:
            logins = seen.get(device_id)
            if logins is None:
                logins = seen[device_id] = []
            logins.append((event_ms, account_id, country))
    devices = {}
    for device_id, logins in seen.items():
        logins.sort()
        devices[device_id] = ([login[0] for login in logins], logins)
    return devices


def read_payments(paths: Iterable[str]) -> Dict[str, Payment]:
    """payment_id -> (event_time, account_id, device_id, amount, country) of its first valid record."""
    countries = _CountryCodes()
    payments: Dict[str, Payment] = {}
    for p in records(paths):
        payment_id = valid_id(p["payment_id"])
        if payment_id is None or payment_id in payments:
            continue
        account_id, device_id, amount, country = valid_id(p["account_id"]), valid_id(p["device_id"]), p["amount"], p["country"]
        event_ms = (p["event_time"] - EPOCH) // MILLISECOND
        if (account_id and device_id and 0 < amount < math.inf and countries[country]
                and 0 <= event_ms <= MAX_EVENT_TIME_MS):
            payments[payment_id] = (event_ms, account_id, device_id, amount, country)
    return payments


def _amount_spike(amount: float, event_ms: int, times: List[int], prefix: List[float], amounts: List[float]) -> bool:
    """At least 3 of the account's payments in [t - 24h, t), and the amount above 5 times their mean.

    The mean is that of the exactly rounded sum (math.fsum), which no order of additions changes; the
    difference of two prefix sums decides alone when it is clearly off the boundary, nearly always."""
    lo = bisect.bisect_left(times, event_ms - HISTORY_WINDOW_MS)
    hi = bisect.bisect_left(times, event_ms)
    count = hi - lo
    if count < 3:
        return False
    over = amount * count - 5 * (prefix[hi] - prefix[lo])
    slack = 5e-9 * prefix[hi]  # far above the rounding error a prefix sum can carry
    if abs(over) > slack:
        return over > 0
    return amount > 5 * (math.fsum(amounts[lo:hi]) / count)


def score(payments: Dict[str, Payment],
          devices: Dict[str, Tuple[List[int], List[Login]]]) -> Dict[str, dict]:
    """payment_id -> its scored record."""
    paid_from: Dict[str, List[int]] = collections.defaultdict(list)
    paid_by: Dict[str, List[Tuple[int, float]]] = collections.defaultdict(list)
    for event_ms, account_id, device_id, amount, _ in payments.values():
        paid_from[device_id].append(event_ms)
        paid_by[account_id].append((event_ms, amount))
    for times in paid_from.values():
        times.sort()
    history: Dict[str, Tuple[List[int], List[float], List[float]]] = {}
    for account_id, paid in paid_by.items():
        paid.sort()
        amounts = [amount for _, amount in paid]
        prefix = [0.0]
        for amount in amounts:
            prefix.append(prefix[-1] + amount)
        history[account_id] = ([t for t, _ in paid], prefix, amounts)

    scored = {}
    bisect_right = bisect.bisect_right
    for payment_id, (event_ms, account_id, device_id, amount, country) in payments.items():
        reasons = []
        logins = devices.get(device_id)
        last = None
        if logins is not None:
            times, entries = logins
            i = bisect_right(times, event_ms) - 1
            if i >= 0 and times[i] >= event_ms - DEVICE_WINDOW_MS:
                last = entries[i]  # the greatest (event_time, account_id, ip_country) at or before the payment
        if last is None:
            reasons.append("unknown_device")
        else:
            if last[1] != account_id:
                reasons.append("account_mismatch")
            if last[2] != country:
                reasons.append("country_mismatch")
        times = paid_from[device_id]
        if len(times) > 3 and bisect_right(times, event_ms) - bisect_right(times, event_ms - VELOCITY_WINDOW_MS) > 3:
            reasons.append("velocity")
        if _amount_spike(amount, event_ms, *history[account_id]):
            reasons.append("amount_spike")
        reasons.sort()
        total = sum(map(POINTS.__getitem__, reasons))
        scored[payment_id] = {
            "key": payment_id, "payment_id": payment_id, "account_id": account_id, "device_id": device_id,
            "amount": amount, "event_time": event_ms, "score": total, "reasons": reasons,
            "alert": total >= ALERT_SCORE,
        }
    return scored


def score_archive(payments_paths: Iterable[str], devices_paths: Iterable[str]) -> Dict[str, dict]:
    """payment_id -> its scored record, for every distinct valid payment of the Avro files.

    The cycle collector is off meanwhile, as timeit turns it off: nothing here makes a cycle, and it
    would scan the millions of records already read again and again."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return score(read_payments(payments_paths), read_devices(devices_paths))
    finally:
        if collecting:
            gc.enable()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="kappa.benchmarks.fraud_limit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", required=True, help="a folder with payments/*.avro and devices/*.avro")
    parser.add_argument("--generate", type=int, metavar="N", help="first write a seeded archive of N payments there")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)
    if args.generate:
        from kappa.io import generate_fraud

        started = time.perf_counter()
        written = generate_fraud.write_fraud_archive(
            generate_fraud.FraudConfig(payments=args.generate, seed=args.seed), args.archive, "avro")
        print(f"generated {written.payments.records:,} payment and {written.devices.records:,} device records "
              f"in {time.perf_counter() - started:.1f} s")
    payments_paths = sorted(glob.glob(os.path.join(args.archive, "payments", "*.avro")))
    devices_paths = sorted(glob.glob(os.path.join(args.archive, "devices", "*.avro")))
    total = count(payments_paths) + count(devices_paths)
    started = time.perf_counter()
    scored = score_archive(payments_paths, devices_paths)
    elapsed = time.perf_counter() - started
    alerts = sum(1 for record in scored.values() if record["alert"])
    print(f"scored {len(scored):,} payments ({alerts:,} alerts) from {total:,} records in {elapsed:.1f} s: "
          f"{total / elapsed:,.0f} records/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
