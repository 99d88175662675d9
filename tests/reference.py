"""The expected answer, computed in plain Python, independent of kappa."""
import collections
import json
import math

SECONDS = 1000
MINUTE = 60 * SECONDS


def reference_counts(paths):
    """Plain Python, independent of kappa: distinct valid order ids per (region, minute)."""
    ids = collections.defaultdict(set)
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
                start = o["event_time"] // MINUTE * MINUTE
                ids[f"{o['region']}:{start}"].add(o["order_id"])
    return {key: len(v) for key, v in ids.items()}


def lines_in(paths):
    return sum(1 for path in paths for _ in open(path))
