"""The in-process rate-limit storage (no ``REDIS_URL``): fixed-window counters, no timer threads.

limits' own ``MemoryStorage`` frees expired counters with a 10 ms ``threading.Timer`` that it
starts anew on the first hit after the last one has fired: under load, a new thread every 10 ms
per process. ``Thread.start()`` waits until the new thread holds the GIL, and that wait landed
on requests (measured: 0.1–0.6 ms of a 1.2 ms ``POST /v1/responses``). This storage is built on
limits' public ``Storage`` base instead, for the fixed window only (the one strategy
``survey_service.access`` uses), with the counters in a cachetools ``TLRUCache``: each counter
lives until its own window ends, an expired one is never read, and every write frees the
expired ones, so memory stays bounded by the keys in use without any thread.
"""

from __future__ import annotations

import math
import threading
import time

from cachetools import TLRUCache
from limits.storage import Storage

SCHEME = "kundresa-memory"


def _window_end(_key: str, counter: tuple[int, float], _now: float) -> float:
    return counter[1]


class FixedWindowMemoryStorage(Storage):
    """``kundresa-memory://``: fixed-window counters in this process's memory."""

    STORAGE_SCHEME = [SCHEME]  # registers the scheme with limits

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # key -> (count, end of its window in time.time() seconds, which limits reports back).
        self._counters: TLRUCache[str, tuple[int, float]] = TLRUCache(
            math.inf, _window_end, timer=time.time
        )
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        with self._lock:
            count, window_end = self._counters.get(key, (0, time.time() + expiry))
            self._counters[key] = (count + amount, window_end)
            return count + amount

    def get(self, key: str) -> int:
        with self._lock:
            return self._counters.get(key, (0, 0.0))[0]

    def get_expiry(self, key: str) -> float:
        with self._lock:
            return self._counters.get(key, (0, time.time()))[1]

    def check(self) -> bool:
        return True

    def reset(self) -> int:
        with self._lock:
            count = len(self._counters)
            self._counters.clear()
            return count

    def clear(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)

    def sweep(self) -> None:
        """Free expired counters now (a write does it too)."""
        with self._lock:
            self._counters.expire()

    def __len__(self) -> int:
        """Counters held in memory, expired ones not yet freed included."""
        with self._lock:
            return len(self._counters)
