"""The fraud-scoring rules' expected answer, in plain Python, independent of kappa.

Each rule is written as the spec words it, over whole lists of events; events are only grouped by
device and by account first, so that a test archive of a few thousand payments scores in a second.
"""
import collections
import json
import math
import re
import unicodedata

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
MAX_EVENT_TIME = 253_402_300_799_999
POINTS = {"unknown_device": 40, "account_mismatch": 30, "country_mismatch": 20, "velocity": 25, "amount_spike": 30}
ALERT_SCORE = 50


def _text(value):
    """The contract's reading of an id: NFC, stripped; None if it is not a string, is empty, or holds an
    invisible or control character (or an unpaired surrogate)."""
    if not isinstance(value, str):
        return None
    value = unicodedata.normalize("NFC", value).strip()
    if not value or any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") for c in value):
        return None
    return value


def _country(value):
    return value if isinstance(value, str) and re.fullmatch("[A-Z]{2}", value) else None


def _event_time(value):
    return value if type(value) is int and 0 <= value <= MAX_EVENT_TIME else None


def valid_payment(record):
    """The payment the record is under the contract, or None when it breaks it."""
    if not isinstance(record, dict):
        return None
    payment = {"payment_id": _text(record.get("payment_id")), "account_id": _text(record.get("account_id")),
               "device_id": _text(record.get("device_id")), "amount": record.get("amount"),
               "country": _country(record.get("country")), "event_time": _event_time(record.get("event_time"))}
    amount = payment["amount"]
    if type(amount) not in (int, float) or not (math.isfinite(amount) and amount > 0):
        return None
    return payment if None not in payment.values() else None


def valid_device(record):
    """The device event the record is under the contract, or None when it breaks it."""
    if not isinstance(record, dict):
        return None
    device = {"device_id": _text(record.get("device_id")), "account_id": _text(record.get("account_id")),
              "ip_country": _country(record.get("ip_country")), "event_time": _event_time(record.get("event_time"))}
    return device if None not in device.values() else None


def _valid(paths, valid):
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = valid(json.loads(line))
                except ValueError:
                    continue
                if record is not None:
                    yield record


def valid_payments(paths):
    """The valid payments of JSON Lines files, in file order."""
    return _valid(paths, valid_payment)


def valid_devices(paths):
    """The valid device events of JSON Lines files, in file order."""
    return _valid(paths, valid_device)


def score(payments, devices):
    """payment_id -> its scored record, for every distinct payment (the first of its redeliveries)."""
    distinct = {}
    for p in payments:
        distinct.setdefault(p["payment_id"], p)
    devices_seen = collections.defaultdict(list)
    for d in devices:
        devices_seen[d["device_id"]].append(d)
    paid_from = collections.defaultdict(list)
    paid_by = collections.defaultdict(list)
    for p in distinct.values():
        paid_from[p["device_id"]].append(p)
        paid_by[p["account_id"]].append(p)

    scored = {}
    for payment_id, p in distinct.items():
        t = p["event_time"]
        reasons = []
        seen = [d for d in devices_seen[p["device_id"]] if t - 30 * MINUTE <= d["event_time"] <= t]
        if not seen:
            reasons.append("unknown_device")
        else:
            last = max(seen, key=lambda d: (d["event_time"], d["account_id"], d["ip_country"]))
            if last["account_id"] != p["account_id"]:
                reasons.append("account_mismatch")
            if last["ip_country"] != p["country"]:
                reasons.append("country_mismatch")
        if len([q for q in paid_from[p["device_id"]] if t - 60 * SECOND < q["event_time"] <= t]) > 3:
            reasons.append("velocity")
        history = [q["amount"] for q in paid_by[p["account_id"]] if t - 24 * HOUR <= q["event_time"] < t]
        if len(history) >= 3 and p["amount"] > 5 * (math.fsum(history) / len(history)):  # the exact sum
            reasons.append("amount_spike")
        total = sum(POINTS[reason] for reason in reasons)
        scored[payment_id] = {
            "key": payment_id, "payment_id": payment_id, "account_id": p["account_id"],
            "device_id": p["device_id"], "amount": p["amount"], "event_time": t, "score": total,
            "reasons": sorted(reasons), "alert": total >= ALERT_SCORE,
        }
    return scored
