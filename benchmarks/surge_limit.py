"""surge-pricing's bare-Python limit: one process, fastavro's reader, a set of ids per (cell, minute),
each 5-minute window the union of its five minutes' sets.

No framework, no windows: what the job costs at the least in Python, for kappa's figures to be
measured against.
"""
import gc
from typing import Dict, Iterable, Set, Tuple

from kappa.benchmarks.avro_archive import event_ms, records, valid_id

MINUTE_MS = 60_000
WINDOW_MINUTES = 5
Minutes = Dict[Tuple[str, int], Set[str]]  # (cell, minute start) -> ids


def _add(minutes: Minutes, cell: str, ms: int, id_: str) -> None:
    slot = (cell, ms - ms % MINUTE_MS)
    ids = minutes.get(slot)
    if ids is None:
        minutes[slot] = {id_}
    else:
        ids.add(id_)


def read_demand(paths: Iterable[str]) -> Minutes:
    """The distinct request_ids of each (cell, minute), of the valid requests."""
    demand: Minutes = {}
    ids: Dict[str, str] = {}  # raw id -> its reading, once per id
    for r in records(paths):
        request, rider, cell, ms = r["request_id"], r["rider_id"], r["cell"], event_ms(r["event_time"])
        request, rider = valid_id(request), ids[rider] if rider in ids else ids.setdefault(rider, valid_id(rider))
        cell = ids[cell] if cell in ids else ids.setdefault(cell, valid_id(cell))
        if request and rider and cell and ms is not None:
            _add(demand, cell, ms, request)
    return demand


def read_supply(paths: Iterable[str]) -> Minutes:
    """The distinct driver_ids available in each (cell, minute), of the valid locations."""
    supply: Minutes = {}
    ids: Dict[str, str] = {}
    for d in records(paths):
        driver, cell, ms = d["driver_id"], d["cell"], event_ms(d["event_time"])
        driver = ids[driver] if driver in ids else ids.setdefault(driver, valid_id(driver))
        cell = ids[cell] if cell in ids else ids.setdefault(cell, valid_id(cell))
        if driver and cell and ms is not None and d["status"] == "available":
            _add(supply, cell, ms, driver)
    return supply


def surge(demand: Minutes, supply: Minutes) -> Dict[str, dict]:
    """key -> the result of every (cell, window) with demand or supply."""
    empty: Set[str] = set()
    starts = {(cell, minute - back * MINUTE_MS) for cell, minute in (*demand, *supply) for back in range(WINDOW_MINUTES)}
    results = {}
    for cell, start in starts:
        slots = [(cell, start + i * MINUTE_MS) for i in range(WINDOW_MINUTES)]
        n_demand = len(empty.union(*(demand.get(slot, empty) for slot in slots)))
        n_supply = len(empty.union(*(supply.get(slot, empty) for slot in slots)))
        tenths = min(30, max(10, (10 * n_demand) // max(n_supply, 1)))
        key = f"{cell}:{start}"
        results[key] = {"key": key, "cell": cell, "window_start": start, "window_end": start + WINDOW_MINUTES * MINUTE_MS,
                        "demand": n_demand, "supply": n_supply, "multiplier": tenths / 10,
                        "multiplier_tenths": tenths, "timing": "ON_TIME", "is_last": True}
    return results


def surge_archive(requests: Iterable[str], drivers: Iterable[str]) -> Dict[str, dict]:
    """The results of the Avro files, the cycle collector off meanwhile (nothing here makes a cycle)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return surge(read_demand(requests), read_supply(drivers))
    finally:
        if collecting:
            gc.enable()
