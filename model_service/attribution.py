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
from shared.journey_frames import as_utc
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
) -> dict[str, Attribution]:
    """Revenue per channel for each of ``models``, for the conversions in ``[since, until)``."""
    start, end = as_utc(since), as_utc(until)
    frames = load_journey_frames(
        database_url, end.to_pydatetime(), since=(start - timedelta(days=lookback_days))
    )
    conversions, touches = conversions_and_touches(frames.events, kind, start, end)
    paths = build_paths(conversions, touches, lookback_days, since=start, until=end)
    return {model: attribute(paths, model, half_life_days) for model in models}


def as_dict(result: Attribution) -> dict[str, Any]:
    return asdict(result)


def stage_channels(
    database_url: str,
    *,
    since: datetime | None,
    until: datetime,
    segment: str | None = None,
    product_category: str | None = None,
) -> list[ChannelAtStage]:
    """Channels per stage in ``[since, until)``, of one segment's and/or one category's people
    when given (a category: people with an event in it in the period, as on the journey map)."""
    end = as_utc(until)
    frames = load_journey_frames(
        database_url, end.to_pydatetime(), since=None if since is None else as_utc(since)
    )
    events = frames.events
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
    return channels_by_stage(events, frames.responses, people)
