"""concurrent-viewers' bare-Python limit: one process, fastavro's reader, a set of heartbeat times per
(viewer, show), sorted once.

Sessions split where consecutive distinct heartbeats are at least the gap apart; each session counts
its viewer in every minute from the one of its first heartbeat to the one of its last. No framework,
no windows: what the job costs at the least in Python, for kappa's figures to be measured against.
"""
import gc
from typing import Dict, Iterable, Set, Tuple

from kappa.benchmarks.avro_archive import event_ms, records, valid_id

MINUTE_MS = 60_000
GAP_MS = 90_000


def read_heartbeats(paths: Iterable[str]) -> Dict[Tuple[str, str], Set[int]]:
    """(viewer_id, show_id) -> its distinct heartbeat times, of the valid records."""
    times: Dict[Tuple[str, str], Set[int]] = {}
    ids: Dict[str, str] = {}  # raw id -> its reading, worked out once per id: an archive repeats them
    for h in records(paths):
        viewer, show, ms = h["viewer_id"], h["show_id"], event_ms(h["event_time"])
        viewer = ids[viewer] if viewer in ids else ids.setdefault(viewer, valid_id(viewer))
        show = ids[show] if show in ids else ids.setdefault(show, valid_id(show))
        if viewer and show and ms is not None:
            seen = times.get((viewer, show))
            if seen is None:
                times[viewer, show] = {ms}
            else:
                seen.add(ms)
    return times


def sessions_and_minutes(times: Dict[Tuple[str, str], Set[int]],
                         gap_ms: int = GAP_MS) -> Tuple[Dict[str, dict], Dict[str, dict]]:
    """(results: key -> each show minute's viewers, sessions: key -> each session)."""
    sessions: Dict[str, dict] = {}
    watching: Dict[Tuple[str, int], Set[str]] = {}
    for (viewer, show), distinct in times.items():
        ordered = sorted(distinct)
        runs, start = [], 0
        for i in range(1, len(ordered)):
            if ordered[i] - ordered[i - 1] >= gap_ms:
                runs.append((start, i))
                start = i
        runs.append((start, len(ordered)))
        for lo, hi in runs:
            first, last = ordered[lo], ordered[hi - 1]
            key = f"{viewer}:{show}:{first}"
            sessions[key] = {"key": key, "viewer_id": viewer, "show_id": show, "first": first, "last": last,
                             "heartbeats": hi - lo}
            for minute in range(first - first % MINUTE_MS, last - last % MINUTE_MS + 1, MINUTE_MS):
                viewers = watching.get((show, minute))
                if viewers is None:
                    watching[show, minute] = {viewer}
                else:
                    viewers.add(viewer)
    results = {}
    for (show, minute), viewers in watching.items():
        key = f"{show}:{minute}"
        results[key] = {"key": key, "show_id": show, "window_start": minute, "window_end": minute + MINUTE_MS,
                        "viewers": len(viewers), "timing": "ON_TIME", "is_last": True}
    return results, sessions


def viewers_archive(paths: Iterable[str], gap_ms: int = GAP_MS) -> Tuple[Dict[str, dict], Dict[str, dict]]:
    """(results, sessions) of the Avro files, the cycle collector off meanwhile, as timeit turns it
    off: nothing here makes a cycle, and it would scan the records already read again and again."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return sessions_and_minutes(read_heartbeats(paths), gap_ms)
    finally:
        if collecting:
            gc.enable()
