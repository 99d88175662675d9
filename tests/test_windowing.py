import argparse

import pytest
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import Timestamp

from kappa.transforms.windowing import (Accumulation, Slots, WindowKind, WindowSpec, add_window_flags,
                                        parse_duration_ms, spec_from_args)


def flags(*argv):
    parser = argparse.ArgumentParser()
    add_window_flags(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("text,ms", [("500ms", 500), ("60s", 60_000), ("5m", 300_000), ("1h", 3_600_000),
                                     ("1d", 86_400_000), ("0s", 0)])
def test_parse_duration(text, ms):
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["60", "1.5s", "-5s", "5 minutes", "", "s"])
def test_parse_duration_refuses_ambiguous_or_malformed(text):
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration_ms(text)


def test_flags_overlay_the_pipeline_default():
    spec = spec_from_args(flags("--window", "5m", "--allowed-lateness", "30s", "--early-firing", "10s",
                                "--accumulation", "discarding"), WindowSpec())
    assert spec == WindowSpec(kind=WindowKind.FIXED, size_ms=300_000, allowed_lateness_ms=30_000,
                              early_firing_delay_ms=10_000, accumulation=Accumulation.DISCARDING)


def test_no_flags_keep_the_default():
    default = WindowSpec(size_ms=120_000, allowed_lateness_ms=5_000)
    assert spec_from_args(flags(), default) == default


def test_gap_means_session_windows():
    assert spec_from_args(flags("--gap", "30s"), WindowSpec()) == WindowSpec(kind=WindowKind.SESSION, size_ms=30_000)


def test_period_means_sliding_windows():
    spec = spec_from_args(flags("--window", "10m", "--period", "1m"), WindowSpec())
    assert spec == WindowSpec(kind=WindowKind.SLIDING, size_ms=600_000, period_ms=60_000)


@pytest.mark.parametrize("argv,message", [
    (["--gap", "30s", "--window-kind", "fixed"], "--gap applies to session windows only"),
    (["--period", "2m", "--window", "1m"], "--period must not exceed --window"),
    (["--window-kind", "sliding"], "sliding windows need a positive --period"),
    (["--early-firing", "1500ms"], "whole number of seconds"),
    (["--early-count", "0"], "--early-count must be positive, got 0"),
    (["--early-firing", "10s", "--early-count", "5"], "choose one of --early-firing and --early-count"),
    (["--window", "0s"], "must be positive"),
    (["--allowed-lateness", "soon"], "bad duration"),
])
def test_bad_flags_say_why(argv, message):
    with pytest.raises(ValueError, match=message):
        spec_from_args(flags(*argv), WindowSpec())


def test_window_fns_follow_the_kind():
    assert WindowSpec().window_fn() == window.FixedWindows(60)
    assert WindowSpec(kind=WindowKind.SLIDING, size_ms=60_000, period_ms=10_000).window_fn() == \
        window.SlidingWindows(60, 10)
    assert WindowSpec(kind=WindowKind.SESSION, size_ms=30_000).window_fn() == window.Sessions(30)


def test_late_firings_exist_only_with_lateness():
    assert WindowSpec().trigger_fn() == trigger.AfterWatermark()
    assert WindowSpec(allowed_lateness_ms=1_000, early_firing_count=3).trigger_fn() == \
        trigger.AfterWatermark(early=trigger.AfterCount(3), late=trigger.AfterCount(1))


def test_final_only_keeps_windows_and_drops_speculation():
    streaming = WindowSpec(size_ms=120_000, allowed_lateness_ms=60_000, early_firing_count=10,
                           accumulation=Accumulation.DISCARDING)
    assert streaming.final_only() == WindowSpec(size_ms=120_000)
    assert streaming.final_only().fires_once and not streaming.fires_once


@pytest.mark.parametrize("size_s, period_s, offset_s", [(300, 60, 0), (300, 60, 20), (120, 120, 0), (600, 200, 50)])
def test_slots_give_the_windows_beam_assigns(size_s, period_s, offset_s):
    fixed = size_s == period_s
    spec = WindowSpec(kind=WindowKind.FIXED if fixed else WindowKind.SLIDING, size_ms=size_s * 1000,
                      period_ms=None if fixed else period_s * 1000, offset_ms=offset_s * 1000)
    slots = Slots.of(spec)
    beam_windows = window.SlidingWindows(size_s, period_s, Timestamp(offset_s))
    for event_ms in (0, 1, 19_999, 20_000, 59_999, 60_000, 299_999, 300_000, 1_234_567):
        assigned = beam_windows.assign(window.WindowFn.AssignContext(Timestamp(micros=event_ms * 1000)))
        assert slots.window_starts([slots.start(event_ms)]) == {w.start.micros // 1000 for w in assigned}


def test_sessions_and_uneven_slides_have_no_slots():
    assert Slots.of(WindowSpec(kind=WindowKind.SESSION, size_ms=60_000)) is None
    assert Slots.of(WindowSpec(kind=WindowKind.SLIDING, size_ms=300_000, period_ms=70_000)) is None
