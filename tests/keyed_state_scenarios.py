"""Keyed-state scenarios as data: arrivals and watermark steps, and the exact outputs with their timestamps.

`test_keyed_state.py` runs each on the direct runner and on embedded Flink as a stream, and its
elements as a bounded input (FnApiRunner, Flink batch). Times are written in seconds for reading.
A scenario that puts a record behind the watermark by more than the lateness injects what the
runner would have diverted, to show that state past its horizon is gone.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional, Tuple

from kappa.io.replay import AddElements, AdvanceWatermark, Step
from kappa.transforms.interval_join import Interval, Joined


class Pay(NamedTuple):
    payment_id: str
    device_id: str
    event_time: int


class Dev(NamedTuple):
    device_id: str
    account_id: str
    event_time: int


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def pay(payment_id: str, device_id: str, seconds: float) -> Pay:
    return Pay(payment_id, device_id, ms(seconds))


def dev(device_id: str, account_id: str, seconds: float) -> Dev:
    return Dev(device_id, account_id, ms(seconds))


def arrive(*records) -> AddElements:
    """Records arriving together, each at its own event time."""
    return AddElements(tuple((record, record.event_time) for record in records))


def watermark(seconds: float) -> AdvanceWatermark:
    return AdvanceWatermark(ms(seconds))


def out(seconds: float, value) -> Tuple[int, object]:
    """An expected output and its timestamp."""
    return ms(seconds), value


# Where a bounded run genuinely differs, one line each: it reads every element before any timer fires.
BATCH_KEEPS_STATE = "a bounded run fires no timer before its input is read: the state is still there"
BATCH_ORDER = "a bounded run forgets no id before its input is read, and its order decides which copy is first"


@dataclasses.dataclass(frozen=True)
class JoinScenario:
    name: str
    interval: Interval
    steps: Tuple[Step, ...]
    expected: Tuple[Tuple[int, Joined], ...]  # (output timestamp ms, output)
    outer: bool = True
    lateness_ms: int = 0
    self_join: bool = False  # payments against payments of the same device
    batch: Optional[Tuple[Tuple[int, Joined], ...]] = None  # None: the same as `expected`
    batch_why: Optional[str] = None


TEN_S = Interval(before_ms=10_000, after_ms=0)  # [t - 10s, t]
LAST_DAY = Interval(before_ms=86_400_000, after_ms=-1)  # [t - 1d, t): earlier payments, not itself

P1 = pay("p1", "d1", 20)
JOINS = (
    JoinScenario(
        "interval_edges_inclusive",
        Interval(before_ms=10_000, after_ms=2_000),
        (arrive(P1, dev("d1", "exactly-before", 10), dev("d1", "1ms-too-early", 9.999), dev("d1", "same-time", 20),
                dev("d1", "exactly-after", 22), dev("d1", "1ms-too-late", 22.001)),
         watermark(30)),
        (out(22, Joined(P1, (dev("d1", "exactly-before", 10), dev("d1", "same-time", 20),
                             dev("d1", "exactly-after", 22)))),),
    ),
    JoinScenario(
        "ties_sorted_by_time_then_record",
        TEN_S,
        (arrive(dev("d1", "b", 15), dev("d1", "a", 15)), arrive(P1, dev("d1", "c", 12)), watermark(30)),
        (out(20, Joined(P1, (dev("d1", "c", 12), dev("d1", "a", 15), dev("d1", "b", 15)))),),
    ),
    JoinScenario(
        "unmatched_left_outer",
        TEN_S,
        (arrive(P1, pay("p2", "d2", 21), dev("d2", "a", 5)), arrive(dev("d1", "a", 18)), watermark(30)),
        (out(20, Joined(P1, (dev("d1", "a", 18),))), out(21, Joined(pay("p2", "d2", 21), ()))),
    ),
    JoinScenario(
        "unmatched_left_inner",
        TEN_S,
        (arrive(P1, pay("p2", "d2", 21), dev("d2", "a", 5)), arrive(dev("d1", "a", 18)), watermark(30)),
        (out(20, Joined(P1, (dev("d1", "a", 18),))),),
        outer=False,
    ),
    JoinScenario(
        # The left waits until the watermark has passed its interval's end: a right at the watermark is
        # not late, so a watermark at 20 itself emits nothing yet.
        "right_after_its_left_before_emission",
        TEN_S,
        (arrive(P1), watermark(15), arrive(dev("d1", "a", 18)), watermark(20), arrive(dev("d1", "b", 20)),
         watermark(20.001), arrive(dev("d1", "too-late", 19))),
        (out(20, Joined(P1, (dev("d1", "a", 18), dev("d1", "b", 20)))),),
        batch=(out(20, Joined(P1, (dev("d1", "a", 18), dev("d1", "too-late", 19), dev("d1", "b", 20)))),),
        batch_why=BATCH_KEEPS_STATE,
    ),
    JoinScenario(
        "lateness_delays_emission",
        TEN_S,
        (arrive(P1), watermark(24), arrive(dev("d1", "late-by-5s", 19)), watermark(25.001)),
        (out(25, Joined(P1, (dev("d1", "late-by-5s", 19),))),),
        lateness_ms=5_000,
    ),
    JoinScenario(
        "self_join_earlier_payments_of_the_device",
        LAST_DAY,
        (arrive(pay("p1", "d1", 0), pay("p2", "d1", 3_600), pay("p3", "d1", 3_600), pay("p9", "d9", 3_600)),
         watermark(3_600.001), arrive(pay("p4", "d1", 86_400)), arrive(pay("p5", "d1", 86_400.001)),
         watermark(100_000)),
        (out(0, Joined(pay("p1", "d1", 0), ())),
         out(3_600, Joined(pay("p2", "d1", 3_600), (pay("p1", "d1", 0),))),
         out(3_600, Joined(pay("p3", "d1", 3_600), (pay("p1", "d1", 0),))),
         out(3_600, Joined(pay("p9", "d9", 3_600), ())),
         out(86_400, Joined(pay("p4", "d1", 86_400), (pay("p1", "d1", 0), pay("p2", "d1", 3_600),
                                                      pay("p3", "d1", 3_600)))),
         out(86_400.001, Joined(pay("p5", "d1", 86_400.001), (pay("p2", "d1", 3_600), pay("p3", "d1", 3_600),
                                                              pay("p4", "d1", 86_400))))),
        self_join=True,
    ),
    JoinScenario(
        # Both due at 10: the left is matched before the right is dropped. After that the key holds
        # nothing, and a left injected behind the watermark finds no right.
        "right_dropped_after_its_horizon",
        TEN_S,
        (arrive(dev("d1", "a", 0)), watermark(10), arrive(pay("p1", "d1", 10)), watermark(10.001),
         arrive(pay("p2", "d1", 5)), watermark(30)),
        (out(10, Joined(pay("p1", "d1", 10), (dev("d1", "a", 0),))), out(5, Joined(pay("p2", "d1", 5), ()))),
        batch=(out(10, Joined(pay("p1", "d1", 10), (dev("d1", "a", 0),))),
               out(5, Joined(pay("p2", "d1", 5), (dev("d1", "a", 0),)))),
        batch_why=BATCH_KEEPS_STATE,
    ),
    JoinScenario(
        # A right stays until the lefts it matches are emitted: here until 15, not 10.
        "right_kept_for_a_waiting_left",
        Interval(before_ms=10_000, after_ms=5_000),
        (arrive(dev("d1", "a", 0), pay("p1", "d1", 10)), watermark(12), arrive(dev("d1", "b", 15)),
         watermark(15.001)),
        (out(15, Joined(pay("p1", "d1", 10), (dev("d1", "a", 0), dev("d1", "b", 15)))),),
    ),
    JoinScenario(
        "one_watermark_step_past_several_lefts_of_a_key",
        TEN_S,
        (arrive(pay("p1", "d1", 10), pay("p2", "d1", 20), pay("p3", "d1", 40), dev("d1", "a", 8)),
         arrive(dev("d1", "b", 19)), watermark(100)),
        (out(10, Joined(pay("p1", "d1", 10), (dev("d1", "a", 8),))),
         out(20, Joined(pay("p2", "d1", 20), (dev("d1", "b", 19),))),
         out(40, Joined(pay("p3", "d1", 40), ()))),
    ),
)


@dataclasses.dataclass(frozen=True)
class DedupScenario:
    name: str
    retention_ms: int
    steps: Tuple[Step, ...]
    unique: Tuple[Tuple[int, Pay], ...]  # (timestamp ms, record)
    duplicates: Tuple[Tuple[int, Pay], ...]
    batch_skip: Optional[str] = None  # why a bounded run gives other outputs


DEDUPS = (
    DedupScenario(
        "redeliveries_count_once",
        10_000,
        (arrive(pay("p1", "d1", 10), pay("p2", "d1", 11), pay("p1", "d1", 10)), watermark(12),
         arrive(pay("p1", "d1", 10)), watermark(30)),
        (out(10, pay("p1", "d1", 10)), out(11, pay("p2", "d1", 11))),
        (out(10, pay("p1", "d1", 10)), out(10, pay("p1", "d1", 10))),
    ),
    DedupScenario(
        # Each arrival with a later event time moves the horizon (latest event time + 10s): p1 is
        # forgotten once the watermark passes 25, not 10, and then passes again.
        "id_forgotten_after_its_retention",
        10_000,
        (arrive(pay("p1", "d1", 0)), watermark(10), arrive(pay("p1", "d1", 10)), watermark(15),
         arrive(pay("p1", "d1", 15)), watermark(25), arrive(pay("p1", "d1", 15)), watermark(25.001),
         arrive(pay("p1", "d1", 26))),
        (out(0, pay("p1", "d1", 0)), out(26, pay("p1", "d1", 26))),
        (out(10, pay("p1", "d1", 10)), out(15, pay("p1", "d1", 15)), out(15, pay("p1", "d1", 15))),
        batch_skip=BATCH_ORDER,
    ),
)
