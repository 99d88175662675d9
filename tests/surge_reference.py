"""surge-pricing's expected answer, in plain Python, independent of kappa: every 5-minute window
starting on a minute that holds an event, its distinct requests and available drivers per cell."""
import collections

from tests.fraud_reference import _event_time, _text, _valid

MINUTE = 60_000
WINDOW = 5 * MINUTE
STATUSES = ("available", "busy", "offline")


def valid_request(record):
    if not isinstance(record, dict):
        return None
    request = {name: _text(record.get(name)) for name in ("request_id", "rider_id", "cell")}
    request["event_time"] = _event_time(record.get("event_time"))
    return request if None not in request.values() else None


def valid_location(record):
    if not isinstance(record, dict):
        return None
    location = {"driver_id": _text(record.get("driver_id")), "cell": _text(record.get("cell")),
                "status": record.get("status") if record.get("status") in STATUSES else None,
                "event_time": _event_time(record.get("event_time"))}
    return location if None not in location.values() else None


def valid_requests(paths):
    return _valid(paths, valid_request)


def valid_locations(paths):
    return _valid(paths, valid_location)


def _starts(t):
    """The starts of the windows [s, s + 5 min) holding t, s a whole minute."""
    last = t - t % MINUTE
    return range(last - WINDOW + MINUTE, last + 1, MINUTE)


def surge(requests, locations):
    """key -> the final result of every (cell, window) with demand or supply."""
    demand, supply = collections.defaultdict(set), collections.defaultdict(set)
    for r in requests:
        for start in _starts(r["event_time"]):
            demand[r["cell"], start].add(r["request_id"])
    for d in locations:
        if d["status"] == "available":
            for start in _starts(d["event_time"]):
                supply[d["cell"], start].add(d["driver_id"])
    results = {}
    for cell, start in set(demand) | set(supply):
        n_demand, n_supply = len(demand[cell, start]), len(supply[cell, start])
        tenths = min(30, max(10, (10 * n_demand) // max(n_supply, 1)))
        key = f"{cell}:{start}"
        results[key] = {"key": key, "cell": cell, "window_start": start, "window_end": start + WINDOW,
                        "demand": n_demand, "supply": n_supply, "multiplier": tenths / 10,
                        "multiplier_tenths": tenths, "timing": "ON_TIME", "is_last": True}
    return results
