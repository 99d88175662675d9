"""surge-pricing scenarios as data: arrivals of ride requests and driver locations, watermark steps,
and the exact result panes. Times are written in seconds; a window is 5 minutes, one starting every
minute, so an event of minute m is in the five windows starting at m - 4 min .. m.

`test_surge_pricing.py` streams each (TestStream on the direct runner and on embedded Flink) and runs
its events as a bounded input through the backfill.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Optional, Tuple

from kappa.io import contracts
from kappa.io.replay import AddElements, AdvanceWatermark, Step
from kappa.pipelines.surge_pricing import SURGE
from kappa.transforms.windowing import WindowSpec
from tests.scenarios import last_panes

Request = contracts.contract("ride-request").record_type
Location = contracts.contract("driver-location").record_type


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def requests(*beats: Tuple[str, str, float]) -> AddElements:
    """Requests arriving together: (request_id, cell, event time in seconds); the rider is r-<id>."""
    return AddElements(tuple((Request(rid, f"r-{rid}", cell, ms(s)), ms(s)) for rid, cell, s in beats),
                       stream="requests")


def drivers(*locations: Tuple[str, str, str, float]) -> AddElements:
    """Locations arriving together: (driver_id, cell, status, event time in seconds)."""
    return AddElements(tuple((Location(did, cell, status, ms(s)), ms(s)) for did, cell, status, s in locations),
                       stream="drivers")


def watermark(seconds: float) -> AdvanceWatermark:
    return AdvanceWatermark(ms(seconds))


def window(cell: str, start_s: float, demand: int, supply: int, tenths: int, timing: str = "ON_TIME",
           is_last: bool = True) -> dict:
    start = ms(start_s)
    return {"key": f"{cell}:{start}", "cell": cell, "window_start": start, "window_end": start + 300_000,
            "demand": demand, "supply": supply, "multiplier": tenths / 10, "multiplier_tenths": tenths,
            "timing": timing, "is_last": is_last}


def windows(cell: str, starts_s: Iterable[float], demand: int, supply: int, tenths: int) -> Tuple[dict, ...]:
    return tuple(window(cell, start, demand, supply, tenths) for start in starts_s)


HOLDING_MINUTE_10 = (360, 420, 480, 540, 600)  # the starts of the windows holding [600 s, 660 s)


@dataclasses.dataclass(frozen=True)
class SurgeScenario:
    name: str
    steps: Tuple[Step, ...]
    results: Tuple[dict, ...]  # every pane, as the direct runner gives them
    on_flink: Optional[Tuple[dict, ...]] = None
    flink_why: Optional[str] = None
    spec: WindowSpec = SURGE

    def finals(self) -> Tuple[dict, ...]:
        return last_panes(self.results)


SCENARIOS = (
    SurgeScenario(
        "window_edges",
        # 300 s opens the window [300 s, 600 s); 899.999 s is the last ms of the window [600 s, 900 s)
        (requests(("q1", "A", 300)), requests(("q2", "B", 899.999)), watermark(3_000)),
        windows("A", (60, 120, 180, 240, 300), 1, 0, 10) + windows("B", (600, 660, 720, 780, 840), 1, 0, 10),
    ),
    SurgeScenario(
        "drivers_only_and_busy_or_offline_drivers_not_counted",
        (drivers(("d1", "A", "available", 610), ("d2", "A", "busy", 620), ("d3", "B", "offline", 630),
                 ("d4", "B", "busy", 640)), watermark(3_000)),
        windows("A", HOLDING_MINUTE_10, 0, 1, 10),
    ),
    SurgeScenario(
        "demand_only_hits_the_cap",
        (requests(("q1", "A", 600), ("q2", "A", 610), ("q3", "A", 620), ("q4", "A", 630)), watermark(3_000)),
        windows("A", HOLDING_MINUTE_10, 4, 0, 30),
    ),
    SurgeScenario(
        "more_drivers_than_riders_is_the_floor",
        (requests(("q1", "A", 600)),
         drivers(("d1", "A", "available", 601), ("d2", "A", "available", 602), ("d3", "A", "available", 603)),
         watermark(3_000)),
        windows("A", HOLDING_MINUTE_10, 1, 3, 10),
    ),
    SurgeScenario(
        "between_floor_and_cap_in_integer_tenths",
        # 10 * 5 // 3 = 16: 1.6, not 1.67
        (requests(*((f"q{i}", "A", 600 + i) for i in range(5))),
         drivers(("d1", "A", "available", 610), ("d2", "A", "available", 620), ("d3", "A", "available", 630),
                 ("d1", "A", "available", 640)),
         watermark(3_000)),
        windows("A", HOLDING_MINUTE_10, 5, 3, 16),
    ),
    SurgeScenario(
        "a_driver_in_two_cells_and_a_redelivered_request",
        (drivers(("d1", "A", "available", 610), ("d1", "B", "available", 650)),
         requests(("q1", "B", 655), ("q2", "B", 656)), requests(("q1", "B", 655)), watermark(3_000)),
        windows("A", HOLDING_MINUTE_10, 0, 1, 10) + windows("B", HOLDING_MINUTE_10, 2, 1, 20),
    ),
    SurgeScenario(
        "early_panes_by_count_carry_the_multiplier_so_far",
        # every second record of a window fires it early; the on-time pane has all three requests
        (requests(("q1", "A", 600), ("q2", "A", 610)),
         drivers(("d1", "A", "available", 620), ("d2", "A", "available", 630)),
         requests(("q3", "A", 640)), watermark(3_000)),
        tuple(pane for start in HOLDING_MINUTE_10 for pane in (
            window("A", start, 2, 0, 20, "EARLY", False), window("A", start, 2, 2, 10, "EARLY", False),
            window("A", start, 3, 2, 15))),
        spec=dataclasses.replace(SURGE, early_firing_count=2),
    ),
)
