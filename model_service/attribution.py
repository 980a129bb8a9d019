"""Attribution and channels per stage over a period, read through the feature loader.

Both read ``load_journey_frames`` with the period's end as its cutoff, so nothing after
``until`` is read, and with a start as early as the question needs (the lookback before the
first conversion); the pure functions of ``shared.attribution`` and ``shared.channel_stages``
do the rest.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from shared.attribution import (
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    MODELS,
    Attribution,
    attribute,
    build_paths,
    conversions_and_touches,
    person_of,
)
from shared.channel_stages import ChannelAtStage, channels_by_stage
from shared.journey_frames import JourneyFrames, as_utc
from shared.journey_loader import load_journey_frames


def attribution_report(
    database_url: str,
    *,
    since: datetime,
    until: datetime,
    models: tuple[str, ...] = MODELS,
    kind: str = "purchase",
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    frames: JourneyFrames | None = None,
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
    database_url: str, *, since: datetime, until: datetime, lookback_days: int
) -> JourneyFrames:
    """The frames a period's questions need: events from ``lookback_days`` before ``since``
    (the touchpoints of its first conversions) up to ``until``, nothing later."""
    start = as_utc(since) - timedelta(days=lookback_days)
    return load_journey_frames(database_url, as_utc(until).to_pydatetime(), since=start)


def as_dict(result: Attribution) -> dict[str, Any]:
    return asdict(result)


def stage_channels(
    database_url: str,
    *,
    since: datetime | None,
    until: datetime,
    segment: str | None = None,
    product_category: str | None = None,
    frames: JourneyFrames | None = None,
) -> list[ChannelAtStage]:
    """Channels per stage in ``[since, until)``, of one segment's and/or one category's people
    when given (a category: people with an event in it in the period, as on the journey map).
    ``frames`` may start earlier than ``since`` (``load_period``'s): only the period counts."""
    end = as_utc(until)
    if frames is None:
        frames = load_journey_frames(
            database_url, end.to_pydatetime(), since=None if since is None else as_utc(since)
        )
    events = frames.events
    responses = frames.responses
    if since is not None:
        events = events[events["occurred_at"] >= as_utc(since)]
        responses = responses[responses["submitted_at"] >= as_utc(since)]
    people = None
    if segment or product_category:
        person = person_of(events)
        chosen = pd.Series(True, index=events.index)
        if segment:
            members = frames.customers.loc[frames.customers["segment"] == segment, "customer_id"]
            chosen &= person.isin(set(members))
        if product_category:
            in_category = events["product_category"].astype(object) == product_category
            chosen &= person.isin(set(person[in_category]))
        people = pd.Index(person[chosen].unique())
    return channels_by_stage(events, responses, people)
