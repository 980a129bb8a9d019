"""Time-split datasets: rolling training cutoffs, label windows that end before the evaluation
period, and labels that mean what the task definitions say, checked on hand-made customers beside a small
synthetic shop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import insert

from shared.cart_features import CART_MOMENTS
from shared.db.session import dispose_engines, get_engine
from shared.db.tables import Customer, Identity, JourneyEvent
from shared.journey_frames import JourneyFrames, frames_before
from shared.journey_loader import load_journey_frames
from shared.tasks import brand_switch_definition, cart_abandonment_definition
from tests.conftest import make_sqlite_url
from training.datasets import (
    CART_HORIZON,
    CUTOFF_STEP,
    NotEnoughData,
    brand_switch_dataset,
    brand_switch_rows,
    cart_abandonment_dataset,
    cart_rows,
)
from training.synth import generate

END = datetime(2026, 10, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HORIZON_DAYS = 90
HORIZON = timedelta(days=HORIZON_DAYS)
# Chosen, not the latest possible: the hand-made stories sit around these cutoffs.
BRAND_CUTOFF = END - 120 * DAY
CART_CUTOFF = END - 40 * DAY
# Not on a whole hour, so a snapshot time is easy to tell from a cart event.
CART_OPENED = CART_CUTOFF - 40 * DAY + timedelta(hours=1, minutes=37)

# customer -> purchases as days from BRAND_CUTOFF, each on the customer's own (identified)
# device; every hand-made customer also viewed a page 200 days before the cutoff.
PURCHASE_DAYS: dict[str, tuple[float, ...]] = {
    "hand-stays": (-100, -10, 30),
    "hand-leaves": (-100, -10),
    "hand-in-time": (-100, -10, HORIZON_DAYS - 1 / 24),
    "hand-too-late": (-100, -10, HORIZON_DAYS),  # exactly at the end of the window
    "hand-at-cutoff": (-100, 0),
    "hand-first-later": (5,),
    "hand-comes-back": (-150, 5),
    "hand-other-device": (-100,),
    "hand-linked-late": (-100,),
    "hand-early": (-190, -100),
}
# customer -> (days of an anonymous purchase on a second device, days its visitor is linked).
SECOND_DEVICE_PURCHASE: dict[str, tuple[float, float]] = {
    "hand-other-device": (-30, -30),  # identified when buying
    "hand-linked-late": (-30, 10),  # identified only in the evaluation period
}
# (customer, cutoff as days from BRAND_CUTOFF) -> label; None: not a row (never bought before).
EXPECTED_BRAND_SWITCH: dict[tuple[str, int], int | None] = {
    ("hand-stays", 0): 0,
    ("hand-leaves", 0): 1,
    ("hand-in-time", 0): 0,
    ("hand-too-late", 0): 1,
    ("hand-at-cutoff", 0): 0,
    ("hand-first-later", 0): None,
    ("hand-comes-back", 0): 0,
    ("hand-stays", -90): 0,
    ("hand-leaves", -90): 0,
    ("hand-early", 0): 1,
    # Validation, one horizon before the test cutoff.
    ("hand-comes-back", -90): 1,  # the purchase 5 days after the test cutoff is unseen
    ("hand-other-device", -90): 0,
    ("hand-linked-late", -90): 1,  # the link that reveals the purchase is from a later period
    ("hand-early", -90): 1,
    # Training, one more horizon back (the only cutoff with 60 days of history before it).
    ("hand-early", -180): 0,
    ("hand-stays", -180): None,  # first bought at -100
    ("hand-comes-back", -180): None,
}


def _event(customer: str, number: int, kind: str, at: datetime, **values: object) -> dict:
    row = {
        "event_id": f"{customer}-e{number}",
        "customer_id": customer,
        "visitor_id": f"{customer}-v0",
        "type": kind,
        "occurred_at": at,
        "received_at": at,
        "cart_id": None,
        "value": None,
        "product_category": "fashion",
        "channel": None,
        "device": "desktop",
    }
    return {**row, **values}


def _brand_switch_stories() -> tuple[list[dict], list[dict]]:
    events, identities = [], []
    for customer, days in PURCHASE_DAYS.items():
        at = BRAND_CUTOFF - 200 * DAY
        events.append(_event(customer, 0, "page_view", at, channel="display"))
        for number, day in enumerate(days, start=1):
            events.append(
                _event(customer, number, "purchase", BRAND_CUTOFF + day * DAY, value=50.0)
            )
        identities.append(
            {"visitor_id": f"{customer}-v0", "customer_id": customer, "linked_at": at}
        )
    for customer, (bought, linked) in SECOND_DEVICE_PURCHASE.items():
        anonymous = _event(
            customer, 99, "purchase", BRAND_CUTOFF + bought * DAY, value=50.0, device="mobile"
        )
        events.append({**anonymous, "customer_id": None, "visitor_id": f"{customer}-v1"})
        identities.append(
            {
                "visitor_id": f"{customer}-v1",
                "customer_id": customer,
                "linked_at": BRAND_CUTOFF + linked * DAY,
            }
        )
    return events, identities


def _cart_story() -> list[dict]:
    """One customer: an earlier purchase, a cart bought 30 hours after it was opened (growing
    and reaching checkout meanwhile), and a cart abandoned after 20 hours."""
    who, t0 = "hand-cart", CART_OPENED
    steps = [
        ("page_view", t0 - 40 * DAY, {"channel": "display"}),
        ("add_to_cart", t0 - 30 * DAY, {"cart_id": "hand-k0", "value": 60.0}),
        ("purchase", t0 - 30 * DAY + timedelta(hours=1), {"cart_id": "hand-k0", "value": 60.0}),
        ("add_to_cart", t0, {"cart_id": "hand-k1", "value": 100.0, "channel": "paid_search"}),
        ("add_to_cart", t0 + timedelta(hours=8), {"cart_id": "hand-k1", "value": 50.0}),
        ("checkout_started", t0 + timedelta(hours=9), {"cart_id": "hand-k1"}),
        ("purchase", t0 + timedelta(hours=30), {"cart_id": "hand-k1", "value": 150.0}),
        ("add_to_cart", t0 + 3 * DAY, {"cart_id": "hand-k2", "value": 80.0}),
        ("cart_abandoned", t0 + 3 * DAY + timedelta(hours=20), {"cart_id": "hand-k2"}),
    ]
    return [_event(who, n, kind, at, **values) for n, (kind, at, values) in enumerate(steps)]


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JourneyFrames]:
    """A few hundred synthetic customers plus the hand-made ones, read as of after the end."""
    url = make_sqlite_url(tmp_path_factory.mktemp("datasets"))
    generate(url, customers=300, days=365, seed=21, end=END, progress=False)
    events, identities = _brand_switch_stories()
    events += _cart_story()
    customers = sorted({e["customer_id"] for e in events if e["customer_id"]})
    with get_engine(url).begin() as conn:
        conn.execute(
            insert(Customer),
            [{"id": c, "segment": "regular", "locale": "sv", "consent": True} for c in customers],
        )
        conn.execute(
            insert(Identity),
            [*identities, {"visitor_id": "hand-cart-v0", "customer_id": "hand-cart",
                           "linked_at": CART_OPENED - 40 * DAY}],
        )  # fmt: skip
        conn.execute(insert(JourneyEvent), events)
    yield load_journey_frames(url, END + DAY)
    dispose_engines()


def _customer_of(rows: pd.DataFrame) -> pd.Series:
    """Training rows are named ``<id>@<cutoff>``; the id alone."""
    return pd.Series(rows.index.str.rsplit("@", n=1).str[0], index=rows.index)


# ---------------------------------------------------------------------------------------------
# Brand switch
# ---------------------------------------------------------------------------------------------


def test_brand_switch_parts_follow_each_other_one_horizon_apart(frames):
    dataset = brand_switch_dataset(frames, horizon_days=HORIZON_DAYS, max_train_rows=None)
    test_cutoff = pd.Timestamp(dataset.evaluation_cutoff)
    validation_cutoff = pd.Timestamp(dataset.validation_cutoff)
    assert test_cutoff == (frames.events["occurred_at"].max() - HORIZON).floor("D")
    assert validation_cutoff == test_cutoff - HORIZON

    cutoffs = sorted(dataset.train["cutoff"].unique())
    assert len(cutoffs) >= 3
    assert cutoffs == [pd.Timestamp(c) for c in dataset.train_cutoffs]
    assert {b - a for a, b in zip(cutoffs, cutoffs[1:], strict=False)} == {CUTOFF_STEP}
    # No label window reaches into the next part.
    assert (dataset.train["cutoff"] + HORIZON <= validation_cutoff).all()
    assert (dataset.validation["cutoff"] == validation_cutoff).all()
    assert (dataset.evaluation["cutoff"] == test_cutoff).all()
    assert pd.Timestamp(dataset.train_data_end) == validation_cutoff + HORIZON <= test_cutoff
    assert dataset.params["split"] == "train/validation/test"
    for name, part in (
        ("train", dataset.train),
        ("validation", dataset.validation),
        ("test", dataset.evaluation),
    ):
        assert set(part["label"]) == {0, 1}
        assert (part["frequency"] > 0).all()  # only customers who have bought before
        assert dataset.params[f"base_rate_{name}"] == round(part["label"].mean(), 4)

    assert dataset.definition == brand_switch_definition(HORIZON_DAYS)
    assert dataset.pipeline_options == {"rhythm_horizon_days": HORIZON_DAYS}
    assert set(dataset.baselines) == {"recency", "rfm_logistic"}
    for columns in dataset.baselines.values():
        assert set(columns) <= set(dataset.numeric)


def test_a_short_history_trains_without_validation_and_says_how_many_days_it_needs(frames):
    # A year of data holds 60 days of history and two 120-day windows, not three.
    two_parts = brand_switch_dataset(frames, horizon_days=120, max_train_rows=None)
    assert two_parts.validation is None and two_parts.validation_cutoff is None
    assert two_parts.params["split"] == "train/test"
    test_cutoff = pd.Timestamp(two_parts.evaluation_cutoff)
    assert (two_parts.train["cutoff"] + timedelta(days=120) <= test_cutoff).all()
    assert pd.Timestamp(two_parts.train_data_end) <= test_cutoff
    with pytest.raises(
        NotEnoughData, match="need at least 380 days of events for a 160-day horizon"
    ) as raised:
        brand_switch_dataset(frames, horizon_days=160)
    assert "540 days with a validation window" in str(raised.value)


def test_brand_switch_earlier_parts_are_the_same_without_the_later_periods(frames):
    dataset = brand_switch_dataset(
        frames, horizon_days=HORIZON_DAYS, cutoff=BRAND_CUTOFF, max_train_rows=None
    )
    known_at_test = frames_before(frames, BRAND_CUTOFF)
    for cutoff in dataset.train_cutoffs:
        built = dataset.train[dataset.train["cutoff"] == pd.Timestamp(cutoff)]
        alone = brand_switch_rows(known_at_test, cutoff, HORIZON)
        pd.testing.assert_frame_equal(
            built.set_axis(_customer_of(built).rename("customer_id")).sort_index(),
            alone.sort_index(),
        )
    validation_cutoff = dataset.validation_cutoff
    pd.testing.assert_frame_equal(
        dataset.validation.sort_index(),
        brand_switch_rows(known_at_test, validation_cutoff, HORIZON).sort_index(),
    )


def test_brand_switch_label_is_no_purchase_within_the_horizon_after_the_cutoff(frames):
    dataset = brand_switch_dataset(
        frames, horizon_days=HORIZON_DAYS, cutoff=BRAND_CUTOFF, max_train_rows=None
    )
    assert pd.Timestamp(dataset.validation_cutoff) == pd.Timestamp(BRAND_CUTOFF - 90 * DAY)
    assert [pd.Timestamp(c) for c in dataset.train_cutoffs] == [
        pd.Timestamp(BRAND_CUTOFF - 180 * DAY)
    ]
    train_customers = _customer_of(dataset.train)
    found = {}
    for customer, days in EXPECTED_BRAND_SWITCH:
        if days == 0:
            rows = dataset.evaluation[dataset.evaluation.index == customer]
        elif days == -90:
            rows = dataset.validation[dataset.validation.index == customer]
        else:
            at_cutoff = dataset.train["cutoff"] == pd.Timestamp(BRAND_CUTOFF + days * DAY)
            rows = dataset.train[at_cutoff & (train_customers == customer)]
        assert len(rows) <= 1
        found[customer, days] = None if rows.empty else int(rows["label"].iloc[0])
    assert found == EXPECTED_BRAND_SWITCH
    # The purchase at the cutoff is the outcome, not a feature.
    assert dataset.evaluation.loc["hand-at-cutoff", "frequency"] == 1


# ---------------------------------------------------------------------------------------------
# Cart abandonment
# ---------------------------------------------------------------------------------------------


def _cart_dataset(frames: JourneyFrames):
    return cart_abandonment_dataset(
        frames, cutoff=CART_CUTOFF, max_train_rows=None, max_eval_rows=None
    )


def test_cart_parts_follow_each_other_with_a_day_between_them(frames):
    dataset = _cart_dataset(frames)
    test_start = pd.Timestamp(dataset.evaluation_cutoff)
    validation_start = pd.Timestamp(dataset.validation_cutoff)
    assert test_start == pd.Timestamp(CART_CUTOFF)
    assert dataset.train["cutoff"].nunique() > 100  # many moments, not one
    # Every label window of a part ends before the next part's first snapshot.
    assert (dataset.train["cutoff"] + CART_HORIZON <= validation_start).all()
    assert (dataset.validation["cutoff"] >= validation_start).all()
    assert (dataset.validation["cutoff"] + CART_HORIZON <= test_start).all()
    assert (dataset.evaluation["cutoff"] >= test_start).all()
    assert pd.Timestamp(dataset.train_data_end) <= test_start
    assert dataset.definition == cart_abandonment_definition()
    assert dataset.baselines["idle_time"] == ["minutes_idle"]
    assert set(dataset.baselines["session_logistic"]) <= set(dataset.features)
    for part in (dataset.train, dataset.validation, dataset.evaluation):
        assert set(part["label"]) == {0, 1}
        assert 0.4 < part["label"].mean() < 0.95
        assert set(part["moment"]) <= set(CART_MOMENTS)

    # Nothing after the test window's start changes a training row.
    snapshots = pd.DataFrame(
        {"as_of": dataset.train["cutoff"].array, "moment": dataset.train["moment"].array},
        index=pd.Index(_customer_of(dataset.train).to_numpy(), name="cart_id"),
    )
    alone = cart_rows(
        frames_before(frames, CART_CUTOFF), snapshots, known_at=dataset.train_cutoffs[1]
    )
    pd.testing.assert_frame_equal(dataset.train, alone)


def test_cart_rows_are_carts_a_shop_can_still_act_on(frames):
    dataset = _cart_dataset(frames)
    for part in (dataset.train, dataset.validation, dataset.evaluation):
        # Right after a change, or after at most an hour of quiet: never a cart idle for days.
        assert part["minutes_idle"].max() <= 60 + 1e-6
        assert {"change", "quiet_5", "quiet_15", "quiet_60"} <= set(part["moment"])
    assert (dataset.train["moment"] == "exit_intent").any()


def test_cart_label_is_no_purchase_within_a_day_with_features_as_the_cart_was(frames):
    dataset = _cart_dataset(frames)
    carts = _customer_of(dataset.train)
    t0 = pd.Timestamp(CART_OPENED)
    bought_at = t0 + pd.Timedelta(hours=30)
    second = pd.Timedelta(seconds=1)
    activity = [t0, t0 + pd.Timedelta(hours=8), t0 + pd.Timedelta(hours=9)]
    quiet = [pd.Timedelta(minutes=q) for q in (5, 15, 60)]
    nexts = [*activity[1:], bought_at]
    # Quiet moments only while nothing happened: the checkout came exactly 60 minutes after
    # the second item, so that item has no 60-minute moment.
    expected = sorted(
        [a + second for a in activity]
        + [a + q for a, n in zip(activity, nexts, strict=True) for q in quiet if a + q < n]
    )
    assert len(expected) == 11

    bought = dataset.train[carts == "hand-k1"].sort_values("cutoff")
    assert list(bought["cutoff"]) == expected
    for _, row in bought.iterrows():
        as_of = row["cutoff"]
        assert row["label"] == int(not as_of <= bought_at < as_of + CART_HORIZON), as_of
        grown = as_of > t0 + pd.Timedelta(hours=8)
        assert row["cart_value"] == (150.0 if grown else 100.0)
        assert row["cart_items"] == (2.0 if grown else 1.0)
        assert row["checkout_started"] == float(as_of > t0 + pd.Timedelta(hours=9))
        assert row["minutes_open"] == (as_of - t0) / pd.Timedelta(minutes=1)
        assert row["past_purchases"] == 1.0  # the earlier cart, not this one
        # The session of the first item began with the paid-search visit.
        assert (row["channel"] == "paid_search") == (as_of < t0 + pd.Timedelta(hours=8))
    assert set(bought["label"]) == {0, 1}  # bought within a day of some snapshots, not all

    abandoned = dataset.train[carts == "hand-k2"]
    marked_at = t0 + pd.Timedelta(days=3, hours=20)
    assert len(abandoned) == 4  # right after the item went in, then 5, 15 and 60 quiet minutes
    assert (abandoned["label"] == 1).all()
    assert (abandoned["cutoff"] <= marked_at).all()  # no snapshot once it was marked abandoned
    assert (abandoned["cart_value"] == 80.0).all()
