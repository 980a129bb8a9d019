"""Synthetic journeys: deterministic, true to the seed facts, with the planted worst journey."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pandas as pd
from click.testing import CliRunner
from sqlalchemy import func, select

from shared.db.session import get_engine
from shared.db.tables import Customer, Identity, JourneyEvent, Response
from shared.surveys import ABANDONMENT_REASONS
from tests.conftest import make_sqlite_url
from training.cli import synth
from training.synth import (
    ABANDON_MARKED_SHARE,
    ABANDON_SURVEY_RATE,
    IDENTIFYING_CHANNELS,
    PLANTED_WORST_CELL,
    generate,
)

END = datetime(2026, 3, 1, tzinfo=UTC)


def _digest(database_url: str) -> str:
    digest = hashlib.sha256()
    with get_engine(database_url).connect() as conn:
        for table, key in (
            (Customer, Customer.id),
            (Identity, Identity.visitor_id),
            (JourneyEvent, JourneyEvent.event_id),
            (Response, Response.response_id),
        ):
            columns = [c for c in table.__table__.c if c.name not in {"created_at", "id"}]
            for row in conn.execute(select(*columns).order_by(key)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def test_the_same_seed_writes_the_same_rows(tmp_path):
    for name in "abc":
        (tmp_path / name).mkdir()
    first = make_sqlite_url(tmp_path / "a")
    second = make_sqlite_url(tmp_path / "b")
    one = generate(first, customers=150, days=120, seed=3, end=END, progress=False)
    two = generate(second, customers=150, days=120, seed=3, end=END, progress=False)
    assert (one.events, one.responses) == (two.events, two.responses)
    assert _digest(first) == _digest(second)
    third = make_sqlite_url(tmp_path / "c")
    generate(third, customers=150, days=120, seed=4, end=END, progress=False)
    assert _digest(third) != _digest(first)


def test_rows_land_in_every_table_on_each_database(database_url):
    summary = generate(database_url, customers=120, days=150, seed=9, end=END, progress=False)
    with get_engine(database_url).connect() as conn:
        counts = {
            table.__tablename__: conn.scalar(select(func.count()).select_from(table))
            for table in (Customer, Identity, JourneyEvent, Response)
        }
        latest = conn.scalar(select(func.max(JourneyEvent.occurred_at)))
        anonymous = conn.scalar(select(func.count()).where(JourneyEvent.customer_id.is_(None)))
        scored = conn.scalar(select(func.count()).where(Response.body_hash.is_not(None)))
    assert counts == {
        "customers": 120,
        "identities": summary.identities,
        "journey_events": summary.events,
        "responses": summary.responses,
    }
    assert latest < END
    assert anonymous > 0  # visitors on a device before they identify
    assert scored == summary.responses


def test_many_touchpoints_per_customer_and_the_planted_worst_journey(shop):
    engine = get_engine(shop.database_url)
    with engine.connect() as conn:
        events = conn.scalar(select(func.count()).select_from(JourneyEvent))
        customers = conn.scalar(select(func.count()).select_from(Customer))
    assert events / customers > 30  # many touchpoints, not a few

    orders = pd.read_sql(
        select(JourneyEvent.order_id, JourneyEvent.product_category).where(
            JourneyEvent.type == "purchase"
        ),
        engine,
    )
    answers = pd.read_sql(
        select(Response.order_id, Response.csat, Customer.segment)
        .join(Customer, Customer.id == Response.customer_id)
        .where(Response.survey_key == "post_purchase"),
        engine,
    )
    rated = answers.merge(orders, on="order_id")
    cell = (rated["segment"] == PLANTED_WORST_CELL["segment"]) & (
        rated["product_category"] == PLANTED_WORST_CELL["product_category"]
    )
    assert cell.sum() > 20
    assert rated.loc[cell, "csat"].mean() < rated.loc[~cell, "csat"].mean() - 0.7


def test_synth_command_prints_a_summary(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(
        synth,
        ["--customers", "40", "--days", "60", "--seed", "1", "--end", "2026-02-01",
         "--database-url", url, "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "customers" in result.output and "abandoned" in result.output


def _events(database_url: str) -> pd.DataFrame:
    """Every event with the customer it belongs to, through the visitor's identity if anonymous."""
    engine = get_engine(database_url)
    events = pd.read_sql(
        select(
            JourneyEvent.customer_id,
            JourneyEvent.visitor_id,
            JourneyEvent.type,
            JourneyEvent.channel,
            JourneyEvent.product_category,
            JourneyEvent.cart_id,
            JourneyEvent.occurred_at,
            JourneyEvent.properties,
        ),
        engine,
    )
    owners = pd.read_sql(select(Identity.visitor_id, Identity.customer_id), engine)
    owner = owners.set_index("visitor_id")["customer_id"]
    events["who"] = events["customer_id"].fillna(events["visitor_id"].map(owner))
    # Visitors never identified are still someone's: synthetic visitor ids name their customer.
    events["who"] = events["who"].fillna(events["visitor_id"].str.rsplit("-v", n=1).str[0])
    return events


def test_channels_differ_by_stage_early_middle_and_after_purchase(shop):
    events = _events(shop.database_url)
    kind = events["type"]
    first_view = events[kind == "product_view"].groupby("who")["occurred_at"].min()
    first_purchase = events[kind == "purchase"].groupby("who")["occurred_at"].min()
    touches = events[events["channel"].notna() & kind.isin(["touchpoint", "page_view"])]
    at = touches["occurred_at"]
    viewed = touches["who"].map(first_view)
    bought = touches["who"].map(first_purchase)
    stage = pd.Series("after purchase", index=touches.index)
    stage[bought.isna() | (at < bought)] = "interest and desire"
    stage[viewed.isna() | (at < viewed)] = "awareness"
    groups = {
        "display": "display and paid social",
        "paid_social": "display and paid social",
        "organic_search": "search and retargeting",
        "paid_search": "search and retargeting",
        "retargeting": "search and retargeting",
        "email": "e-mail",
        "newsletter": "e-mail",
    }
    share = pd.crosstab(stage, touches["channel"].map(groups).fillna("other"), normalize="index")
    assert stage.value_counts().min() > 300, stage.value_counts()

    early = share["display and paid social"]
    assert early["awareness"] > 0.15
    assert early["awareness"] > 4 * max(early["interest and desire"], early["after purchase"])
    middle = share["search and retargeting"]
    assert middle["interest and desire"] > 1.5 * max(middle["awareness"], middle["after purchase"])
    mail = share["e-mail"]
    assert mail["after purchase"] > 0.4
    assert mail["after purchase"] > 1.5 * mail["interest and desire"]
    assert mail["after purchase"] > 5 * mail["awareness"]


def test_some_customers_use_a_second_device_anonymously_before_they_identify_on_it(shop):
    events = _events(shop.database_url)
    identities = pd.read_sql(select(Identity), get_engine(shop.database_url))
    events = events.merge(identities[["visitor_id", "linked_at"]], on="visitor_id", how="left")
    customers = events["who"].nunique()
    linked = identities.sort_values("linked_at").groupby("customer_id")["visitor_id"]
    # A visitor id is "<customer>-v<device>" and, once its cookie expired, "-<renewal>".
    device = identities["visitor_id"].str.extract(r"-v(\d+)", expand=False)
    devices = device.groupby(identities["customer_id"]).nunique()
    two_devices = devices[devices >= 2].index
    assert 0.10 < len(two_devices) / customers < 0.40

    later_visitors = set(identities["visitor_id"]) - set(linked.first())
    anonymous_before = events[
        events["visitor_id"].isin(later_visitors)
        & events["customer_id"].isna()
        & (events["occurred_at"] < events["linked_at"])
    ]
    assert anonymous_before["who"].nunique() >= 0.9 * len(two_devices)
    # An identity names the customer of its visitor's events from the link on, never before.
    # (A click in an e-mail names its customer whatever the visitor id.)
    known = events["linked_at"].notna() & ~events["channel"].isin(IDENTIFYING_CHANNELS)
    assert events[known & (events["occurred_at"] < events["linked_at"])]["customer_id"].isna().all()
    assert (
        events[known & (events["occurred_at"] >= events["linked_at"])]["customer_id"].notna().all()
    )


def test_abandoned_carts_carry_reasons_in_the_documented_shares(shop):
    events = _events(shop.database_url)
    engine = get_engine(shop.database_url)
    carts = events[events["type"] == "add_to_cart"].drop_duplicates("cart_id")
    bought = set(events.loc[events["type"] == "purchase", "cart_id"])
    assert 0.60 <= (~carts["cart_id"].isin(bought)).mean() <= 0.70  # seed 003
    # Most abandoned carts just go quiet; a few are marked by the shop.
    abandoned = events[events["type"] == "cart_abandoned"].copy()
    never_bought = (~carts["cart_id"].isin(bought)).sum()
    assert abs(len(abandoned) / never_bought - ABANDON_MARKED_SHARE) < 0.05
    abandoned["reason"] = abandoned["properties"].map(lambda p: (p or {}).get("reason"))
    assert abandoned["reason"].isin(ABANDONMENT_REASONS).all()

    answers = pd.read_sql(
        select(Response.cart_id, Response.reason).where(Response.survey_key == "cart_abandonment"),
        engine,
    )
    said = abandoned.merge(answers, on="cart_id", suffixes=("", "_said"))
    assert abs(len(said) / len(abandoned) - ABANDON_SURVEY_RATE) < 0.05
    assert (said["reason_said"] == said["reason"]).all()

    # The reasons known from either source: the shop's mark or the visitor's answer.
    answered = answers.merge(events[["cart_id", "who"]].drop_duplicates("cart_id"), on="cart_id")
    abandoned = pd.concat([abandoned[["cart_id", "who", "reason"]], answered])
    abandoned = abandoned.drop_duplicates("cart_id")

    segments = pd.read_sql(select(Customer.id, Customer.segment), engine)
    abandoned = abandoned.merge(segments, left_on="who", right_on="id").merge(
        carts[["cart_id", "product_category"]].rename(columns={"product_category": "category"}),
        on="cart_id",
    )
    price = abandoned["reason"].isin(
        ["price_too_high", "unexpected_shipping_cost", "found_cheaper_elsewhere"]
    )
    by_segment = price.groupby(abandoned["segment"]).mean()
    assert by_segment["bargain_hunter"] > 1.5 * by_segment["premium"]  # price focus
    slow = abandoned["reason"] == "delivery_too_slow"
    planted = (abandoned["segment"] == PLANTED_WORST_CELL["segment"]) & (
        abandoned["category"] == PLANTED_WORST_CELL["product_category"]
    )
    assert planted.sum() > 40
    assert slow[planted].mean() > 2 * slow[~planted].mean()  # slow deliveries in that cell
