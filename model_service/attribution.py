"""Attribution and channels per stage over a period, read through the journey loader.

Both read ``load_period_frames`` with the period's end as its cutoff, so nothing after
``until`` is read, and with a start as early as the question needs (the lookback before the
first conversion); the pure functions of ``shared.attribution`` and ``shared.channel_stages``
do the rest.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from shared.attribution import (
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    MODELS,
    Attribution,
    attribute,
    build_paths,
    conversions_and_touches,
    person_codes,
)
from shared.channel_stages import ChannelAtStage, ChannelShare, channel_shares, channels_by_stage
from shared.db.session import session_scope
from shared.db.tables import Customer
from shared.journey_frames import PERIOD_EVENT_COLUMNS, PeriodFrames, as_utc
from shared.journey_loader import load_period_frames

# What the split by channel reads of each event: who, which stage, which channel, when.
SHARE_COLUMNS = ("customer_id", "visitor_id", "type", "stage", "channel", "occurred_at")


def attribution_report(
    database_url: str,
    *,
    since: datetime,
    until: datetime,
    models: tuple[str, ...] = MODELS,
    kind: str = "purchase",
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    frames: PeriodFrames | None = None,
) -> dict[str, Attribution]:
    """Revenue per channel for each of ``models``, for the conversions in ``[since, until)``.

    ``frames`` (from ``load_period``) saves a read when the caller has them already."""
    start, end = as_utc(since), as_utc(until)
    if frames is None:
        frames = load_period(database_url, since=start, until=end, lookback_days=lookback_days)
    conversions, touches = conversions_and_touches(frames.events, kind, start, end)
    paths = build_paths(conversions, touches, lookback_days, since=start, until=end)
    return {model: attribute(paths, model, half_life_days) for model in models}


def load_period(
    database_url: str,
    *,
    since: datetime,
    until: datetime,
    lookback_days: int,
    product_category: str | None = None,
) -> PeriodFrames:
    """The frames a period's questions need: events from ``lookback_days`` before ``since``
    (the touchpoints of its first conversions) up to ``until``, nothing later; their product
    category only to keep one category's people (each column is a tenth of the read)."""
    start = as_utc(since) - timedelta(days=lookback_days)
    columns = _columns(PERIOD_EVENT_COLUMNS, product_category)
    return load_period_frames(database_url, start, as_utc(until), columns=columns)


def as_dict(result: Attribution) -> dict[str, Any]:
    return asdict(result)


def stage_channels(
    database_url: str,
    *,
    since: datetime | None,
    until: datetime,
    segment: str | None = None,
    product_category: str | None = None,
    frames: PeriodFrames | None = None,
) -> list[ChannelAtStage]:
    """Channels per stage in ``[since, until)``, of one segment's and/or one category's people
    when given (a category: people with an event in it in the period, as on the journey map).
    ``frames`` may start earlier than ``since`` (``load_period``'s): only the period counts.
    No ``since``: the whole history."""
    frames = _period(database_url, since, until, frames, product_category)
    events = _people(database_url, frames.events, segment, product_category)
    return channels_by_stage(events, frames.responses)


def stage_shares(
    database_url: str,
    *,
    since: datetime | None,
    until: datetime,
    segment: str | None = None,
    product_category: str | None = None,
) -> list[ChannelShare]:
    """``stage_channels``' people and shares only (the journey map's split by channel)."""
    start = as_utc(since) if since is not None else pd.Timestamp(0, tz="UTC")
    columns = _columns(SHARE_COLUMNS, product_category)
    frames = load_period_frames(database_url, start, as_utc(until), answers=False, columns=columns)
    return channel_shares(_people(database_url, frames.events, segment, product_category))


def _columns(columns: tuple[str, ...], product_category: str | None) -> tuple[str, ...]:
    """``columns`` with the events' product category exactly when one is to be kept."""
    others = tuple(c for c in columns if c != "product_category")
    return (*others, "product_category") if product_category else others


def _period(
    database_url: str,
    since: datetime | None,
    until: datetime,
    frames: PeriodFrames | None,
    product_category: str | None,
) -> PeriodFrames:
    """The frames of ``[since, until)``: read, or cut from ``frames`` read from earlier."""
    start = as_utc(since) if since is not None else pd.Timestamp(0, tz="UTC")
    if frames is None:
        columns = _columns(PERIOD_EVENT_COLUMNS, product_category)
        return load_period_frames(database_url, start, as_utc(until), columns=columns)
    return PeriodFrames(
        events=frames.events[(frames.events["occurred_at"] >= start).to_numpy()],
        responses=frames.responses[(frames.responses["submitted_at"] >= start).to_numpy()],
        since=start.to_pydatetime(),
        until=frames.until,
    )


def _people(
    database_url: str, events: pd.DataFrame, segment: str | None, product_category: str | None
) -> pd.DataFrame:
    """The events of one segment's and/or one category's people, whole people at a time
    (every figure is per person)."""
    if not (segment or product_category):
        return events
    person, known = person_codes(events)
    chosen = np.ones(person.max() + 1 if len(person) else 0, dtype=bool)
    if segment:
        members = known.isin(_segment_members(database_url, segment))
        chosen &= np.pad(members, (0, len(chosen) - len(members)))
    if product_category:
        in_category = (events["product_category"] == product_category).to_numpy()
        chosen &= np.isin(np.arange(len(chosen)), person[in_category])
    return events[chosen[person]]


def _segment_members(database_url: str, segment: str) -> list[str]:
    with session_scope(database_url) as session:
        return list(session.scalars(select(Customer.id).where(Customer.segment == segment)))
