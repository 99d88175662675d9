"""A bundle's user state is committed in one round trip (`state_commit`): every cell's requests are sent
before the worker waits for any answer, and they are the requests Beam's own commit sends."""
from typing import List, Tuple

import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.runners.worker.bundle_processor import FnApiUserStateContext
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec
from apache_beam.transforms.window import GlobalWindow, GlobalWindows

from kappa.transforms import keyed_state, state_commit

BAG = BagStateSpec("entries", VarIntCoder())
LATEST = ReadModifyWriteStateSpec("latest", VarIntCoder())


class _Answer:
    def __init__(self, log: List[Tuple], request: Tuple):
        self._log, self._request = log, request

    def get(self) -> None:
        self._log.append(("wait", *self._request))


class RecordingStateHandler:
    """Beam's state handler as a worker's commit sees it: each request a future to wait on."""

    def __init__(self) -> None:
        self.log: List[Tuple] = []

    def clear(self, state_key) -> _Answer:
        return self._sent(("clear", _name(state_key)))

    def extend(self, state_key, coder_impl, elements) -> _Answer:
        return self._sent(("extend", _name(state_key), tuple(elements)))

    def _sent(self, request: Tuple) -> _Answer:
        self.log.append(("send", *request))
        return _Answer(self.log, request)


def _name(state_key) -> Tuple[str, bytes]:
    return state_key.bag_user_state.user_state_id, state_key.bag_user_state.key


def commit_log(commit) -> List[Tuple]:
    handler = RecordingStateHandler()
    context = FnApiUserStateContext(handler, "stage", VarIntCoder(), GlobalWindows().get_window_coder())
    for key in (1, 2, 3):
        context.get_state(BAG, key, GlobalWindow()).add(10 * key)
    context.get_state(BAG, 4, GlobalWindow()).clear()
    context.get_state(LATEST, 5, GlobalWindow()).write(50)
    commit(context)
    return handler.log


@pytest.fixture
def beams_own_commit(monkeypatch):
    monkeypatch.setattr(FnApiUserStateContext, "commit", FnApiUserStateContext.commit)
    return FnApiUserStateContext.commit


def test_every_request_is_sent_before_any_answer_is_awaited(beams_own_commit):
    one_by_one = commit_log(beams_own_commit)
    state_commit.install()
    together = commit_log(FnApiUserStateContext.commit)
    sends = [entry for entry in one_by_one if entry[0] == "send"]
    assert len(sends) == 6  # three appends, a clear, and a write's clear and append
    assert [entry[0] for entry in one_by_one].count("wait") == 5  # Beam waits after each cell
    assert together[:6] == sends  # the same requests, in the same order
    assert [entry[0] for entry in together[6:]] == ["wait"] * 5


def test_a_stateful_fn_installs_it_where_it_runs(beams_own_commit):
    assert FnApiUserStateContext.commit is beams_own_commit
    keyed_state.StatefulFn().setup()
    assert FnApiUserStateContext.commit is state_commit._commit_together
