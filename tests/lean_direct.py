"""Beam 2.62's BundleBasedDirectRunner without its per-bundle overheads, for the TestStream tests.

The TestStream references (scenarios, replay plans) send hundreds of small bundles, and py-spy
profiles put most of their time in what that runner does per bundle rather than per element
(docs/design.md, "Replay"):
- for every bundle of every ParDo it pickles and unpickles the DoFn (a check that it can be
  serialised) and inspects the signature of each of its methods, several times, to learn whether it
  keeps state. `install()` makes it reuse each DoFn instance and remember what its signatures say:
  they do not change, and kappa's DoFns are serialised for real by every other runner (the batch
  tests run them on the FnApiRunner and on Flink);
- for every bundle of a grouping it copies each key's state, deep-copying its timers and the ids of
  every window the key ever had, so that a failed bundle leaves no partial write. Windows, timer
  names and timestamps are immutable, so copying the dicts and lists that hold them is the same copy.
"""
from __future__ import annotations

import copy
import weakref
from typing import Set, Tuple

from apache_beam.runners.direct import transform_evaluator
from apache_beam.transforms import trigger, userstate

_specs_of: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_uninspected = userstate.get_dofn_specs


def _dofn_specs(dofn) -> Tuple[Set, Set]:
    try:
        return _specs_of[dofn]
    except KeyError:
        specs = _specs_of[dofn] = _uninspected(dofn)
        return specs
    except TypeError:  # not weakly referable
        return _uninspected(dofn)


def _copied(value):
    """A state value copied as deep as it can change: the merging adapter's window ids (a dict of
    window -> list of ids) by its lists, anything else deep-copied."""
    if isinstance(value, dict) and all(isinstance(ids, list) for ids in value.values()):
        return {window: list(ids) for window, ids in value.items()}
    return copy.deepcopy(value)


def _copy_state(self: trigger.InMemoryUnmergedState) -> trigger.InMemoryUnmergedState:
    """`InMemoryUnmergedState.copy`, with the timers copied by their two dicts, not deep-copied."""
    cloned = trigger.InMemoryUnmergedState(defensive_copy=self.defensive_copy)
    for window, timers in self.timers.items():
        cloned.timers[window] = dict(timers)
    cloned.global_state = {tag: _copied(value) for tag, value in self.global_state.items()}
    for window, tags in self.state.items():
        for tag, values in tags.items():
            cloned.state[window][tag] = copy.copy(values)
    return cloned


def install() -> None:
    """Idempotent; affects the direct runner's ParDo evaluator in this process."""
    evaluator = transform_evaluator._ParDoEvaluator
    if getattr(evaluator, "_kappa_lean", False):
        return
    # `userstate.is_stateful_dofn` looks `get_dofn_specs` up in its module when called, so it uses
    # this one too; the evaluator imported its own name for it.
    userstate.get_dofn_specs = _dofn_specs
    transform_evaluator.get_dofn_specs = _dofn_specs
    checked_init = evaluator.__init__

    def reuse_dofn(self, *args, perform_dofn_pickle_test: bool = True, **kwargs) -> None:
        checked_init(self, *args, perform_dofn_pickle_test=False, **kwargs)

    evaluator.__init__ = reuse_dofn
    trigger.InMemoryUnmergedState.copy = _copy_state
    evaluator._kappa_lean = True
