"""Permission bits that bind a test's child process even when the tests run as root."""
import ctypes
import os
from typing import Callable, Optional

_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _PR_CAPBSET_DROP = 1, 2, 24


def _drop_permission_overrides() -> None:
    """Run by a child before it starts: drop the capabilities that let root ignore permission bits from
    its bounding set. (Running it as uid 65534 instead needs an interpreter that user can reach; this
    one lives under /root, mode 0700.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def unprivileged() -> Optional[Callable[[], None]]:
    """The `preexec_fn` that makes permission bits apply to a child: None when they already do."""
    return _drop_permission_overrides if os.geteuid() == 0 else None
