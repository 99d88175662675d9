"""The expected answer, computed in plain Python, independent of kappa."""
import collections
import json
import math

SECONDS = 1000
MINUTE = 60 * SECONDS


def valid_orders(paths):
    """The valid orders of JSON Lines files, in file order."""
    for path in paths:
        with open(path) as lines:
            for line in lines:
                try:
                    o = json.loads(line)
                except ValueError:
                    continue
                if not (isinstance(o, dict) and all(isinstance(o.get(k), str) and o[k].strip()
                                                    for k in ("order_id", "region"))):
                    continue
                if type(o.get("event_time")) is not int or o["event_time"] < 0:
                    continue
                if type(o.get("amount")) not in (int, float) or not math.isfinite(o["amount"]):
                    continue
                yield o


def reference_counts(paths):
    """Distinct valid order ids per (region, minute)."""
    ids = collections.defaultdict(set)
    for o in valid_orders(paths):
        ids[f"{o['region']}:{o['event_time'] // MINUTE * MINUTE}"].add(o["order_id"])
    return {key: len(v) for key, v in ids.items()}


def replay_reference(paths, allowed_lateness_ms, max_out_of_orderness_ms):
    """The replay rule on 1-minute windows: an order is too late when the watermark it meets (the highest
    event time before it, less the out-of-orderness) is past its window's end plus the lateness.
    Returns (distinct ids per window of the others, how many were too late)."""
    ids = collections.defaultdict(set)
    too_late, highest = 0, None
    for o in valid_orders(paths):
        start = o["event_time"] // MINUTE * MINUTE
        if highest is not None and highest - max_out_of_orderness_ms > start + MINUTE + allowed_lateness_ms:
            too_late += 1
            continue
        ids[f"{o['region']}:{start}"].add(o["order_id"])
        highest = o["event_time"] if highest is None else max(highest, o["event_time"])
    return {key: len(v) for key, v in ids.items()}, too_late


def lines_in(paths):
    return sum(1 for path in paths for _ in open(path))


def sales_reference(paths):
    """Per (region, minute): distinct order ids and the sum of their amounts, to the cent."""
    amounts = collections.defaultdict(dict)
    for o in valid_orders(paths):
        amounts[f"{o['region']}:{o['event_time'] // MINUTE * MINUTE}"][o["order_id"]] = o["amount"]
    return {key: {"orders": len(ids), "revenue": round(math.fsum(ids.values()) * 100) / 100}
            for key, ids in amounts.items()}
