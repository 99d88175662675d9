"""concurrent-viewers' expected answer, in plain Python, independent of kappa: sessions as the issue
words them (sorted distinct times, a new session at a gap of at least `gap_ms`), and each minute's
viewers from the sessions (every minute from the one of a session's first heartbeat to the one of its
last), not from the minute windows the pipeline uses."""
import collections

from tests.fraud_reference import _event_time, _text, _valid

MINUTE = 60_000


def valid_heartbeat(record):
    """The heartbeat the record is under the contract, or None when it breaks it."""
    if not isinstance(record, dict):
        return None
    heartbeat = {"viewer_id": _text(record.get("viewer_id")), "show_id": _text(record.get("show_id")),
                 "event_time": _event_time(record.get("event_time"))}
    return heartbeat if None not in heartbeat.values() else None


def valid_heartbeats(paths):
    """The valid heartbeats of JSON Lines files, in file order."""
    return _valid(paths, valid_heartbeat)


def sessions(heartbeats, gap_ms=90_000):
    """key -> session record, for every session of every (viewer, show)."""
    times = collections.defaultdict(set)
    for h in heartbeats:
        times[h["viewer_id"], h["show_id"]].add(h["event_time"])
    found = {}
    for (viewer, show), distinct in times.items():
        ordered = sorted(distinct)
        runs = [[ordered[0]]]
        for t in ordered[1:]:
            if t - runs[-1][-1] >= gap_ms:
                runs.append([])
            runs[-1].append(t)
        for run in runs:
            key = f"{viewer}:{show}:{run[0]}"
            found[key] = {"key": key, "viewer_id": viewer, "show_id": show, "first": run[0], "last": run[-1],
                          "heartbeats": len(run)}
    return found


def minute_viewers(session_records):
    """key -> the final result of each minute of each show somebody watched."""
    viewers = collections.defaultdict(set)
    for s in session_records.values():
        first_minute, last_minute = s["first"] - s["first"] % MINUTE, s["last"] - s["last"] % MINUTE
        for minute in range(first_minute, last_minute + 1, MINUTE):
            viewers[s["show_id"], minute].add(s["viewer_id"])
    return {f"{show}:{minute}": {"key": f"{show}:{minute}", "show_id": show, "window_start": minute,
                                 "window_end": minute + MINUTE, "viewers": len(ids), "timing": "ON_TIME",
                                 "is_last": True}
            for (show, minute), ids in viewers.items()}
