"""shared.cache.TimedCache: the one per-process cache of values that may be a little old."""

from __future__ import annotations

from shared.cache import TimedCache


def test_timed_cache_keeps_a_value_for_its_time_and_forgets_on_request():
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    kept = TimedCache(seconds=60)
    assert kept.get("k", compute) == kept.get("k", compute) == 1
    kept.forget("k")
    assert kept.get("k", compute) == 2
    assert TimedCache(seconds=0).get("k", compute) == 3


def test_timed_cache_keeps_no_misses_when_told_and_stays_bounded():
    found = iter([None, "now it exists"])
    cache = TimedCache(seconds=60, size=2, keep_none=False)
    assert cache.get("site", lambda: next(found)) is None
    assert cache.get("site", lambda: next(found)) == "now it exists"
    for key in ("a", "b", "c"):
        cache.get(key, lambda: 1)
    assert len(cache) <= 2


def test_timed_cache_forgets_a_value_when_its_time_is_up():
    now = [0.0]
    cache = TimedCache(seconds=10, clock=lambda: now[0])
    assert cache.get("k", lambda: "old") == "old"
    now[0] = 9.0
    assert cache.get("k", lambda: "new") == "old"
    now[0] = 10.5
    assert cache.get("k", lambda: "new") == "new"
    cache.seconds = 0  # what bench/dashboard_pages.py does to measure uncached pages
    assert cache.seconds == 0
    assert cache.get("k", lambda: "fresh") == "fresh"
    assert cache.get("k", lambda: "fresher") == "fresher"
