"""What is known about customers' journeys strictly before a cutoff, as DataFrames.

``shared.journey_loader`` reads these frames from the database; the pure feature builders
(``shared.customer_features``, ``shared.cart_features``) turn them into model rows. Because the
frames never hold a row from after their cutoff, a feature built from them cannot see the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

# Numeric event properties aggregated over the visitor's session: key -> how (sum, max, min).
# Each gives the cart feature session_<key>_<how>; an imported event may carry any of them.
SESSION_PROPERTIES: dict[str, str] = {"page_value": "sum", "price": "max"}
# A positive "discount" property on an event means a discount was shown to the visitor.
DISCOUNT_PROPERTY = "discount"
EVENT_PROPERTIES: tuple[str, ...] = (*SESSION_PROPERTIES, DISCOUNT_PROPERTY)


def property_column(key: str) -> str:
    """The events frame column holding numeric property ``key`` (NaN where absent)."""
    return f"prop_{key}"


@dataclass(frozen=True)
class JourneyFrames:
    """What is known strictly before ``cutoff``.

    ``events``: customer_id (resolved through identities; NaN for a visitor not linked yet),
    visitor_id, type, stage, channel, product_category, value, cart_id, device, occurred_at,
    linked_at (when an identity named the customer; NaT when the event did itself), properties
    (only for support contacts and abandoned carts) and one float column per key of
    ``EVENT_PROPERTIES`` (``property_column``). ``responses``: customer_id, survey_key, nps, csat, ces,
    reason, cart_id, submitted_at. ``customers``: customer_id, segment, locale.
    """

    events: pd.DataFrame
    responses: pd.DataFrame
    customers: pd.DataFrame
    cutoff: datetime


# What a report over a period reads of each event and answer (``PeriodFrames``).
PERIOD_EVENT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "visitor_id",
    "type",
    "stage",
    "channel",
    "product_category",
    "value",
    "cart_id",
    "occurred_at",
)
PERIOD_RESPONSE_COLUMNS: tuple[str, ...] = ("customer_id", "nps", "csat", "submitted_at")


@dataclass(frozen=True)
class PeriodFrames:
    """The events and survey answers of ``[since, until)``: ``events`` has the columns of
    ``PERIOD_EVENT_COLUMNS`` (customer_id resolved through identities linked before ``until``),
    in time order; ``responses`` those of ``PERIOD_RESPONSE_COLUMNS``, answers of known
    customers only. Lean on purpose: a report over a period reads every row of it."""

    events: pd.DataFrame
    responses: pd.DataFrame
    since: datetime
    until: datetime


def as_utc(moment: datetime) -> pd.Timestamp:
    """An aware UTC timestamp; a naive datetime is taken to be UTC."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def frames_before(frames: JourneyFrames, cutoff: datetime) -> JourneyFrames:
    """The same frames cut at an earlier cutoff (training reads once, then cuts many times)."""
    cutoff_ts = as_utc(cutoff)
    if cutoff_ts > as_utc(frames.cutoff):
        raise ValueError("cannot cut frames at a later cutoff than they were read at")
    return JourneyFrames(
        known_events(frames, cutoff_ts, anonymous=True),
        known_responses(frames, cutoff_ts),
        frames.customers,
        cutoff_ts.to_pydatetime(),
    )


def known_events(frames: JourneyFrames, cutoff: datetime, anonymous: bool = False) -> pd.DataFrame:
    """Events before ``cutoff`` that could be attributed to their customer at that moment: an
    anonymous visitor's event counts only once the visitor was linked before the cutoff (a
    link made later reveals that the customer came back — the future).

    With ``anonymous`` the events of visitors not linked by then are kept too, with no
    customer (carts belong to their visitor); otherwise they are left out.
    """
    cutoff_ts = as_utc(cutoff)
    events = frames.events
    before = events["occurred_at"] < cutoff_ts
    if not anonymous:
        return events[before & ~(events["linked_at"] >= cutoff_ts) & events["customer_id"].notna()]
    events = events[before]
    linked_later = (events["linked_at"] >= cutoff_ts).to_numpy()
    if not linked_later.any():
        return events
    events = events.copy()
    events.loc[linked_later, "customer_id"] = None
    events.loc[linked_later, "linked_at"] = pd.NaT
    return events


def known_responses(frames: JourneyFrames, cutoff: datetime) -> pd.DataFrame:
    """Responses before ``cutoff`` attributable at that moment (see ``known_events``)."""
    cutoff_ts = as_utc(cutoff)
    responses = frames.responses
    return responses[
        (responses["submitted_at"] < cutoff_ts) & ~(responses["linked_at"] >= cutoff_ts)
    ]
