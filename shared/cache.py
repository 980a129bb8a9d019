"""The one per-process cache of values that may be a little old.

Used where a fresh answer would cost a query on every request and a few seconds' staleness is
harmless: the survey service's sites and surveys, live API tokens, and the dashboard's
aggregates (journey map, summary tiles, filter choices). Each user says how old its values may
get and why. A process forgets its own changes at once (``forget``/``clear``); a change made by
another process takes effect when the entry expires.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from cachetools import TTLCache


class TimedCache:
    """Values by key for ``seconds``; at most ``size`` keys (then the least recently used go).

    With ``keep_none=False`` a None answer is not kept, so what did not exist a moment ago
    (a new site, a new token) is found on the next call. ``clock`` is a monotonic time in
    seconds (tests move it by hand).
    """

    def __init__(
        self,
        seconds: float,
        size: int = 64,
        keep_none: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.keep_none = keep_none
        self.clock = clock
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe
        self.seconds = seconds

    @property
    def seconds(self) -> float:
        return self._values.ttl

    @seconds.setter
    def seconds(self, seconds: float) -> None:
        # A TTLCache's time to live is fixed: a new one starts empty, as after clear().
        with self._lock:
            self._values: TTLCache[Hashable, Any] = TTLCache(self.size, seconds, timer=self.clock)

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        # Computed outside the lock: a slow query must not hold up readers of other keys.
        with self._lock:
            try:
                return self._values[key]
            except KeyError:
                pass
        value = compute()
        with self._lock:
            if value is None and not self.keep_none:
                self._values.pop(key, None)
            else:
                self._values[key] = value
        return value

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._values.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
