"""The feature builder: same stage as the journey rules, and no look into the future."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import delete, insert

from shared.cart_features import CART_FEATURES, build_cart_features
from shared.customer_features import (
    CUSTOMER_CONTEXT,
    CUSTOMER_FEATURES,
    build_customer_features,
    customer_context,
)
from shared.db.session import get_engine
from shared.db.tables import Customer, Identity, JourneyEvent, Response
from shared.features import stage_timeline
from shared.journey import derive_stage
from shared.journey_loader import load_journey_frames
from training.synth import generate

END = datetime(2026, 6, 1, tzinfo=UTC)
CUTOFF = END - timedelta(days=45)
LATER = END + timedelta(days=1)


def _synthetic(database_url: str) -> str:
    generate(database_url, customers=250, days=200, seed=11, end=END, progress=False)
    return database_url


def _delete_from(database_url: str, cutoff: datetime) -> None:
    """Physically remove everything that happened at or after the cutoff."""
    with get_engine(database_url).begin() as conn:
        conn.execute(delete(JourneyEvent).where(JourneyEvent.occurred_at >= cutoff))
        conn.execute(delete(Response).where(Response.submitted_at >= cutoff))
        conn.execute(delete(Identity).where(Identity.linked_at >= cutoff))
        conn.execute(delete(Customer).where(Customer.created_at >= cutoff))


def test_vectorised_stage_matches_the_journey_rules_event_by_event():
    rng = random.Random(3)
    kinds = [
        "page_view", "touchpoint", "product_view", "add_to_cart", "checkout_started",
        "purchase", "cart_abandoned", "support_contact", "refund", "review", "referral",
        "newsletter_signup", "identify", "remove_from_cart",
    ]  # fmt: skip
    rows, expected = [], {}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for number in range(400):
        customer = f"c{number:04d}"
        sequence = []
        for step in range(rng.randint(1, 25)):
            explicit = rng.choice([None] * 10 + ["loyalty", "interest", "advocacy"])
            event = {"type": rng.choice(kinds), "stage": explicit}
            sequence.append(event)
            rows.append(
                {
                    "customer_id": customer,
                    **event,
                    "occurred_at": start + timedelta(hours=step),
                }
            )
        expected[customer] = derive_stage(sequence)
    events = pd.DataFrame(rows)
    events["occurred_at"] = pd.to_datetime(events["occurred_at"], utc=True)
    events["type"] = events["type"].astype("category")

    timeline = stage_timeline(events)
    last = timeline.groupby("customer_id").tail(1).set_index("customer_id")["stage_code"]
    from shared.journey import STAGES

    derived = {c: STAGES[int(code)] for c, code in last.items()}
    assert derived == expected


def test_customer_features_have_the_documented_columns_and_types(sqlite_url):
    frames = load_journey_frames(_synthetic(sqlite_url), CUTOFF)
    features = build_customer_features(frames, CUTOFF)
    assert list(features.columns) == CUSTOMER_FEATURES
    assert features.index.name == "customer_id"
    assert features.index.is_unique and len(features) > 100
    for column in ("segment", "main_category", "stage", "abandon_reason_last"):
        assert features[column].map(type).eq(str).all()
    numeric = features.drop(columns=["segment", "main_category", "stage", "abandon_reason_last"])
    assert all(str(dtype) == "float64" for dtype in numeric.dtypes)
    buyers = features[features["frequency"] > 0]
    assert buyers["recency_days"].notna().all()
    assert features.loc[features["frequency"] == 0, "recency_days"].isna().all()
    context = customer_context(features)
    assert list(context.columns) == CUSTOMER_CONTEXT


def test_features_at_a_cutoff_ignore_everything_after_it(database_url):
    url = _synthetic(database_url)
    everything = load_journey_frames(url, LATER)
    assert (everything.events["occurred_at"] >= CUTOFF).any()

    from_all_data = build_customer_features(everything, CUTOFF)
    carts_from_all_data = build_cart_features(everything, CUTOFF)

    at_cutoff = load_journey_frames(url, CUTOFF)
    assert (at_cutoff.events["occurred_at"] < CUTOFF).all()
    pd.testing.assert_frame_equal(from_all_data, build_customer_features(at_cutoff, CUTOFF))

    _delete_from(url, CUTOFF)
    truncated = load_journey_frames(url, LATER)
    from_truncated = build_customer_features(truncated, CUTOFF)
    pd.testing.assert_frame_equal(from_all_data.sort_index(), from_truncated.sort_index())
    carts_truncated = build_cart_features(truncated, CUTOFF)
    assert len(carts_from_all_data) > 0
    pd.testing.assert_frame_equal(carts_from_all_data.sort_index(), carts_truncated.sort_index())


def test_cart_features_describe_the_carts_open_at_the_cutoff(sqlite_url):
    frames = load_journey_frames(_synthetic(sqlite_url), LATER)
    carts = build_cart_features(frames, CUTOFF)
    assert list(carts.columns) == ["visitor_id", "customer_id", *CART_FEATURES]
    assert carts.index.name == "cart_id" and carts.index.is_unique
    assert (carts["minutes_open"] > 0).all()
    assert (carts["minutes_idle"] <= 7 * 24 * 60).all()
    assert set(carts["stage"]) <= {"desire", "purchase", "loyalty", "advocacy", "interest"}
    bought_before = frames.events[
        (frames.events["type"] == "purchase") & (frames.events["occurred_at"] < CUTOFF)
    ]
    assert not set(carts.index) & set(bought_before["cart_id"].dropna())


def test_loading_one_customer_reads_only_that_customer(sqlite_url):
    url = _synthetic(sqlite_url)
    everyone = build_customer_features(load_journey_frames(url, CUTOFF), CUTOFF)
    customer = everyone.index[0]
    one = build_customer_features(load_journey_frames(url, CUTOFF, [customer]), CUTOFF)
    assert list(one.index) == [customer]
    pd.testing.assert_series_equal(one.loc[customer], everyone.loc[customer])


@pytest.mark.parametrize("cutoff", [END - timedelta(days=150), END])
def test_features_exist_for_early_and_late_cutoffs(sqlite_url, cutoff):
    frames = load_journey_frames(_synthetic(sqlite_url), cutoff)
    assert not build_customer_features(frames, cutoff).empty


def _purchases(database_url: str, days_before: dict[str, tuple[float, ...]]) -> None:
    """Customers who bought the given numbers of days before ``CUTOFF``, nothing else."""
    events = [
        {
            "event_id": f"{customer}-p{number}",
            "customer_id": customer,
            "visitor_id": f"{customer}-v0",
            "type": "purchase",
            "occurred_at": CUTOFF - timedelta(days=days),
            "received_at": CUTOFF - timedelta(days=days),
            "value": 50.0,
        }
        for customer, purchases in days_before.items()
        for number, days in enumerate(purchases)
    ]
    customers = [
        {"id": c, "segment": "regular", "locale": "sv", "consent": True} for c in days_before
    ]
    with get_engine(database_url).begin() as conn:
        conn.execute(insert(Customer), customers)
        conn.execute(insert(JourneyEvent), events)


def test_rhythm_features_measure_overdue_against_the_customers_own_interval(sqlite_url):
    _purchases(
        sqlite_url,
        {
            "once": (40,),
            "same-day": (40, 40),
            "regular-overdue": (100, 80, 60),  # every 20 days, silent for 60
            "regular-on-time": (45, 30, 15),  # every 15 days, last 15 days ago
        },
    )
    features = build_customer_features(load_journey_frames(sqlite_url, CUTOFF), CUTOFF)
    once, same_day, overdue, on_time = (
        features.loc[c] for c in ("once", "same-day", "regular-overdue", "regular-on-time")
    )
    # One order says nothing about a rhythm.
    assert once["is_repeat_buyer"] == 0.0 and once["first_purchase_days"] == 40.0
    for column in ("recency_ratio", "overdue_days", "interval_mean_days"):
        assert pd.isna(once[column])
    # Two orders on one day: a rhythm of at most a day, so 40 days of silence is very overdue.
    assert same_day["is_repeat_buyer"] == 1.0
    assert same_day["recency_ratio"] == 40.0 and same_day["overdue_days"] == 40.0
    assert overdue["recency_ratio"] == 3.0 and overdue["overdue_days"] == 40.0
    assert overdue["first_purchase_days"] == 100.0
    assert on_time["recency_ratio"] == 1.0 and on_time["overdue_days"] == 0.0
