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


class TimedCache:
    """Values by key for ``seconds``; at most ``size`` keys (then it starts again empty).

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
        self.seconds = seconds
        self.size = size
        self.keep_none = keep_none
        self.clock = clock
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        now = self.clock()
        hit = self._values.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = compute()
        with self._lock:
            if value is None and not self.keep_none:
                self._values.pop(key, None)
            else:
                if len(self._values) >= self.size:
                    self._values.clear()  # rare: simpler than LRU, and bounded
                self._values[key] = (now + self.seconds, value)
        return value

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._values.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
