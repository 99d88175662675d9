"""Beam 2.62's BundleBasedDirectRunner without its per-bundle introspection, for replays.

For every bundle of every ParDo, that runner pickles and unpickles the DoFn (a check that it can be
serialised) and inspects the signature of each of its methods, several times, to learn whether it
keeps state. A replay sends thousands of small bundles, and a py-spy profile of one showed most of
its time there (docs/benchmarks.md). `install()` makes the runner reuse each DoFn instance and
remember what a DoFn's signatures say, which changes nothing it computes: the signatures of an
instance's methods do not change, and kappa's DoFns are serialised for real by every other runner
(the batch tests run them on the FnApiRunner and on Flink).
"""
from __future__ import annotations

import weakref
from typing import Set, Tuple

from apache_beam.runners.direct import transform_evaluator
from apache_beam.transforms import userstate

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


def _is_stateful(dofn) -> bool:
    state_specs, timer_specs = _dofn_specs(dofn)
    return bool(state_specs or timer_specs)


def install() -> None:
    """Idempotent; affects the direct runner's ParDo evaluator in this process."""
    evaluator = transform_evaluator._ParDoEvaluator
    if getattr(evaluator, "_kappa_lean", False):
        return
    userstate.get_dofn_specs = _dofn_specs
    userstate.is_stateful_dofn = _is_stateful
    transform_evaluator.get_dofn_specs = _dofn_specs
    transform_evaluator.is_stateful_dofn = _is_stateful
    checked_init = evaluator.__init__

    def reuse_dofn(self, *args, perform_dofn_pickle_test: bool = True, **kwargs) -> None:
        checked_init(self, *args, perform_dofn_pickle_test=False, **kwargs)

    evaluator.__init__ = reuse_dofn
    evaluator._kappa_lean = True
