"""Synthetic journeys: deterministic, true to the seed facts, with the planted worst journey."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pandas as pd
from click.testing import CliRunner
from sqlalchemy import func, select

from shared.db.session import get_engine
from shared.db.tables import Customer, Identity, JourneyEvent, Response
from tests.conftest import make_sqlite_url
from training.cli import synth
from training.synth import PLANTED_WORST_CELL, generate

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


def test_story_follows_the_seed_facts_and_plants_the_worst_journey(shop):
    engine = get_engine(shop.database_url)
    with engine.connect() as conn:
        carts = conn.execute(
            select(JourneyEvent.type, func.count(func.distinct(JourneyEvent.cart_id)))
            .where(JourneyEvent.type.in_(["add_to_cart", "cart_abandoned"]))
            .group_by(JourneyEvent.type)
        ).all()  # fmt: skip
        events = conn.scalar(select(func.count()).select_from(JourneyEvent))
        customers = conn.scalar(select(func.count()).select_from(Customer))
    opened, abandoned = dict(carts)["add_to_cart"], dict(carts)["cart_abandoned"]
    assert 0.60 <= abandoned / opened <= 0.70  # seed 003: 60-70 % of carts abandoned
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
