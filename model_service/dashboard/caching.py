"""A small per-process cache for aggregates that may be a little old.

The journey map, the summary tiles and the filter choices aggregate whole tables: at 100,000
customers that is a second or more on SQLite, and a figure a minute old serves an agent as well
as a fresh one. Lists and customer pages are never cached: they must show what was just done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any


class TimedCache:
    """Values by key for ``seconds``; at most ``size`` keys (then it starts again empty)."""

    def __init__(self, seconds: float, size: int = 64) -> None:
        self.seconds = seconds
        self.size = size
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._values.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = compute()
        with self._lock:
            if len(self._values) >= self.size:
                self._values.clear()
            self._values[key] = (now + self.seconds, value)
        return value

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._values.pop(key, None)
