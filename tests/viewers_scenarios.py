"""concurrent-viewers scenarios as data: arrivals of heartbeats, watermark steps, and the exact result
panes, sessions and tally.

`test_concurrent_viewers.py` streams each (TestStream on the direct runner and on embedded Flink) and
runs its heartbeats as a bounded input through the backfill; times are written in seconds, windows
are minutes. The source's too-late rule is not part of the transform: a scenario only injects what
the source lets through (the `late` output is tested through `kappa run --mode replay`).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

from kappa.io import contracts
from kappa.io.replay import AddElements, AdvanceWatermark, Step
from kappa.pipelines.concurrent_viewers import VIEWING
from kappa.transforms.windowing import WindowSpec
from tests.scenarios import FLINK_CLOSING_PANE, FLINK_LATE_OPENS_ON_TIME, FLINK_ON_TIME_IS_LAST, last_panes


Heartbeat = contracts.contract("heartbeat").record_type


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def heartbeats(*beats: Tuple[str, str, float]) -> AddElements:
    """Heartbeats arriving together: (viewer_id, show_id, event time in seconds)."""
    return AddElements(tuple((Heartbeat(viewer, show, ms(seconds)), ms(seconds)) for viewer, show, seconds in beats),
                       stream="heartbeats")


def watermark(seconds: float) -> AdvanceWatermark:
    return AdvanceWatermark(ms(seconds))


def minute(show: str, start_s: float, viewers: int, timing: str = "ON_TIME", is_last: bool = True) -> dict:
    start = ms(start_s)
    return {"key": f"{show}:{start}", "show_id": show, "window_start": start, "window_end": start + 60_000,
            "viewers": viewers, "timing": timing, "is_last": is_last}


def session(viewer: str, show: str, first_s: float, last_s: float, beats: int) -> dict:
    return {"key": f"{viewer}:{show}:{ms(first_s)}", "viewer_id": viewer, "show_id": show, "first": ms(first_s),
            "last": ms(last_s), "heartbeats": beats}


@dataclasses.dataclass(frozen=True)
class ViewersScenario:
    name: str
    steps: Tuple[Step, ...]
    results: Tuple[dict, ...]  # every pane, as the direct runner gives them
    sessions: Tuple[dict, ...]
    duplicates: int = 0  # redelivered heartbeats
    gap_s: float = 90
    lateness_s: float = 0
    early_firing_count: Optional[int] = None
    on_flink: Optional[Tuple[dict, ...]] = None  # Flink's panes, where they differ
    flink_why: Optional[str] = None

    @property
    def spec(self) -> WindowSpec:
        return dataclasses.replace(VIEWING, size_ms=ms(self.gap_s), allowed_lateness_ms=ms(self.lateness_s),
                                   early_firing_count=self.early_firing_count)

    def tally(self) -> Dict[Tuple[str, str], int]:
        counts = {("heartbeats", "used"): sum(s["heartbeats"] for s in self.sessions)}
        if self.duplicates:
            counts["heartbeats", "duplicates"] = self.duplicates
        return counts

    def finals(self) -> Tuple[dict, ...]:
        return last_panes(self.results)


SCENARIOS = (
    ViewersScenario(
        "session_across_a_minute_boundary",
        (heartbeats(("v1", "s1", 40), ("v1", "s1", 70)), watermark(80), heartbeats(("v1", "s1", 100)),
         watermark(600)),
        (minute("s1", 0, 1), minute("s1", 60, 1)),
        (session("v1", "s1", 40, 100, 3),),
    ),
    ViewersScenario(
        "exactly_the_gap_apart_is_two_sessions_and_less_bridges_a_minute",
        # v1: 90 s apart, two sessions, minute 60 untouched; v2: 89.999 s apart, one session over minute 60
        (heartbeats(("v1", "s1", 30), ("v2", "s1", 30)), heartbeats(("v1", "s1", 120), ("v2", "s1", 119.999)),
         watermark(600)),
        (minute("s1", 0, 2), minute("s1", 60, 1), minute("s1", 120, 1)),
        (session("v1", "s1", 30, 30, 1), session("v1", "s1", 120, 120, 1), session("v2", "s1", 30, 119.999, 2)),
    ),
    ViewersScenario(
        "one_heartbeat_only",
        (heartbeats(("v1", "s2", 200)), watermark(600)),
        (minute("s2", 180, 1),),
        (session("v1", "s2", 200, 200, 1),),
    ),
    ViewersScenario(
        "distinct_viewers_per_show",
        (heartbeats(("v1", "s1", 10), ("v2", "s1", 20), ("v1", "s2", 30)), heartbeats(("v1", "s1", 40)),
         watermark(600)),
        (minute("s1", 0, 2), minute("s2", 0, 1)),
        (session("v1", "s1", 10, 40, 2), session("v2", "s1", 20, 20, 1), session("v1", "s2", 30, 30, 1)),
    ),
    ViewersScenario(
        "redelivered_heartbeats_count_once",
        (heartbeats(("v1", "s1", 10), ("v1", "s1", 40)), heartbeats(("v1", "s1", 40), ("v1", "s1", 10)),
         watermark(600)),
        (minute("s1", 0, 1),),
        (session("v1", "s1", 10, 40, 2),),
        duplicates=2,
    ),
    ViewersScenario(
        "a_shorter_gap",
        (heartbeats(("v1", "s1", 10), ("v1", "s1", 35), ("v1", "s1", 70)), watermark(600)),
        (minute("s1", 0, 1), minute("s1", 60, 1)),
        (session("v1", "s1", 10, 35, 2), session("v1", "s1", 70, 70, 1)),
        gap_s=30,
    ),
    ViewersScenario(
        "late_heartbeat_merges_two_sessions_within_lateness",
        # 0 and 130 are two sessions and leave minute 60 unwatched, until 65 arrives 135 s behind the watermark
        (heartbeats(("v1", "s1", 0), ("v1", "s1", 130)), watermark(200), heartbeats(("v1", "s1", 65)),
         watermark(1_000)),
        # 65 adds minute 60 only: minute 0, which it also falls near, gets no pane from it
        (minute("s1", 0, 1, "ON_TIME", False), minute("s1", 60, 1, "LATE", False), minute("s1", 120, 1, "ON_TIME", False)),
        (session("v1", "s1", 0, 130, 3),),
        lateness_s=180,
        on_flink=(minute("s1", 0, 1, "ON_TIME", False), minute("s1", 0, 1, "LATE", True),
                  minute("s1", 60, 1, "ON_TIME", False),
                  minute("s1", 60, 1, "LATE", True), minute("s1", 120, 1, "ON_TIME", True)),
        flink_why=f"{FLINK_CLOSING_PANE}; for minute 60, {FLINK_LATE_OPENS_ON_TIME}; for minute 120, "
                  f"{FLINK_ON_TIME_IS_LAST}",
    ),
    ViewersScenario(
        "early_panes_by_count_carry_the_viewers_so_far",
        # a minute fires early at each second viewer counted in it (a redelivery or a heartbeat in a minute
        # its viewer is already counted in adds nothing); the on-time pane has all three viewers
        (heartbeats(("v1", "s1", 10), ("v1", "s1", 40)), heartbeats(("v2", "s1", 20)), heartbeats(("v1", "s1", 10)),
         heartbeats(("v3", "s1", 30)), watermark(600)),
        (minute("s1", 0, 2, "EARLY", False), minute("s1", 0, 3)),
        (session("v1", "s1", 10, 40, 2), session("v2", "s1", 20, 20, 1), session("v3", "s1", 30, 30, 1)),
        duplicates=1,
        early_firing_count=2,
    ),
)
