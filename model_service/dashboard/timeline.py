"""The customer page's journey, newest first, with runs folded into one line so a page is
about the customer, not 5,000 px of repeats: "Saw the brand ×37, 1–28 Nov", or for a stretch
of browsing "Saw the brand ×12 · Viewed a product ×5, 3–9 Nov".

Only plain events fold: purchases, carts, orders and anything with a value stay one line each
(they are what an agent asks about), and so do survey answers. Browsing (seeing the brand,
visiting, viewing products) folds across its kinds; any other event only with its own kind."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from babel.dates import format_interval

BROWSING = frozenset({"touchpoint", "page_view", "product_view"})


@dataclass
class TimelineLine:
    entry: dict[str, Any]  # the newest entry of the run, shown for all of it
    newest: datetime
    oldest: datetime
    kinds: Counter = field(default_factory=Counter)  # event type -> how many in the run
    channels: list[str] = field(default_factory=list)  # in order of first sight

    @property
    def count(self) -> int:
        return sum(self.kinds.values()) or 1

    @property
    def folded(self) -> bool:
        return self.count > 1

    def add(self, entry: dict[str, Any]) -> None:
        self.kinds[entry.get("type")] += 1
        self.oldest = entry["at"]
        channel = entry.get("channel")
        if channel and channel not in self.channels:
            self.channels.append(channel)


def _fold_key(entry: dict[str, Any]) -> tuple | None:
    """What makes two entries the same line; None for an entry that always stands alone."""
    if entry.get("kind") != "event":
        return None
    if entry.get("value") is not None or entry.get("order_id") or entry.get("cart_id"):
        return None
    kind = entry.get("type")
    return ("browsing",) if kind in BROWSING else (kind,)


def fold_timeline(entries: list[dict[str, Any]]) -> list[TimelineLine]:
    """``entries`` newest first, consecutive entries of the same key folded into one line."""
    lines: list[TimelineLine] = []
    last_key: tuple | None = None
    for entry in entries:
        key = _fold_key(entry)
        if key is None or key != last_key:
            lines.append(TimelineLine(entry, entry["at"], entry["at"]))
        lines[-1].add(entry)
        last_key = key
    return lines


def span_text(line: TimelineLine, locale: str) -> str:
    """When a folded run happened, as a date range in the user's language ("1–28 Nov")."""
    first, last = line.oldest.date(), line.newest.date()
    skeleton = "MMMd" if first.year == last.year else "yMMMd"
    return format_interval(first, last, skeleton, locale=locale)
