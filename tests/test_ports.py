"""tests.ports: each pytest-xdist worker hands out ports from its own slice."""

from __future__ import annotations

import pytest

from tests import ports


def test_xdist_workers_pick_ports_from_separate_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    slices = []
    for worker in ("gw0", "gw1", "gw2"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        slices.append(range(*ports._range()))
        assert ports.free_port() in slices[-1]
    for first, second in zip(slices, slices[1:], strict=False):
        assert first.stop <= second.start
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    whole = range(*ports._range())
    assert whole.start == slices[0].start and whole.stop >= slices[-1].stop
