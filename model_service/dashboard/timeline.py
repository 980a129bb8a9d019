"""The customer page's journey, newest first, with runs of the same event folded into one
line ("Saw the brand ×37, 1–28 Nov") so a page is about the customer, not 5,000 px of repeats.

Only plain events fold: purchases, carts, orders and anything with a value stay one line
each (they are what an agent asks about), and so do survey answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from babel.dates import format_interval


@dataclass(frozen=True)
class TimelineLine:
    entry: dict[str, Any]  # the newest entry of the run, shown for all of it
    count: int
    newest: datetime
    oldest: datetime

    @property
    def folded(self) -> bool:
        return self.count > 1


def _fold_key(entry: dict[str, Any]) -> tuple | None:
    """What makes two entries the same line; None for an entry that always stands alone."""
    if entry.get("kind") != "event":
        return None
    if entry.get("value") is not None or entry.get("order_id") or entry.get("cart_id"):
        return None
    return (entry.get("type"), entry.get("channel"), entry.get("stage"))


def fold_timeline(entries: list[dict[str, Any]]) -> list[TimelineLine]:
    """``entries`` newest first, consecutive repeats folded into one line each."""
    lines: list[TimelineLine] = []
    last_key: tuple | None = None
    for entry in entries:
        key = _fold_key(entry)
        if key is not None and key == last_key:
            run = lines[-1]
            lines[-1] = TimelineLine(run.entry, run.count + 1, run.newest, entry["at"])
            continue
        lines.append(TimelineLine(entry, 1, entry["at"], entry["at"]))
        last_key = key
    return lines


def span_text(line: TimelineLine, locale: str) -> str:
    """When a folded run happened, as a date range in the user's language ("1–28 Nov")."""
    first, last = line.oldest.date(), line.newest.date()
    skeleton = "MMMd" if first.year == last.year else "yMMMd"
    return format_interval(first, last, skeleton, locale=locale)
