"""Working days: when a follow-up is due. Saturdays and Sundays are not counted; public
holidays differ per country and shop and are not known here."""

from __future__ import annotations

from datetime import datetime, timedelta

SATURDAY = 5


def is_working_day(moment: datetime) -> bool:
    return moment.weekday() < SATURDAY


def add_working_days(start: datetime, days: int) -> datetime:
    """``start`` moved forward by ``days`` working days, at the same time of day.

    A case taken on Friday afternoon with two working days is due Tuesday afternoon; one taken
    on Saturday is due Tuesday too (Monday is its first working day). Zero days: ``start``.
    """
    if days < 0:
        raise ValueError("days must be 0 or more")
    moment = start
    left = days
    while left:
        moment += timedelta(days=1)
        if is_working_day(moment):
            left -= 1
    return moment
