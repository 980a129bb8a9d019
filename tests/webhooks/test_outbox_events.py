"""What goes into the outbox: carts crossing into high risk, and erasure taking events along."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from model_service.risk_events import announce_new_high_risk
from shared.db.session import session_scope
from shared.db.tables import OutboxEvent
from shared.outbox import enqueue, erase_mentions
from shared.tasks import CART_ABANDONMENT
from tests.webhooks.test_delivery import sqlite_only

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _cart(cart_id: str, band: str, visitor: str | None = None, customer: str | None = None):
    return {
        "cart_id": cart_id,
        "visitor_id": visitor,
        "customer_id": customer,
        "band": band,
        "probability": 0.8,
        "value": 99.0,
        "model_version": "2",
        "as_of": NOW,
    }


@sqlite_only
def test_an_anonymous_cart_crossing_into_high_risk_is_announced_once(database_url) -> None:
    records = [
        _cart("k-1", "high", visitor="v-anon"),
        _cart("k-1", "high", visitor="v-anon"),
        _cart("k-2", "low", customer="c-2"),
    ]
    with session_scope(database_url) as session:
        assert announce_new_high_risk(session, CART_ABANDONMENT.name, records) == 1
    with session_scope(database_url) as session:
        event = session.scalars(select(OutboxEvent)).one()
    assert event.event == "cart.risk_high"
    assert event.payload["cart_id"] == "k-1" and event.payload["visitor_id"] == "v-anon"
    assert "dashboard_path" not in event.payload  # nobody to open


def test_erasure_deletes_the_events_that_name_an_id(database_url) -> None:
    tricky = 'c_100%"x'  # LIKE wildcards and a quote: matched literally
    with session_scope(database_url) as session:
        enqueue(session, "response.received", {"customer_id": tricky, "nps": 3})
        enqueue(session, "response.received", {"customer_id": "c_1000", "nps": 9})
        enqueue(session, "cart.risk_high", {"cart_id": "k-9", "customer_id": None})
        enqueue(session, "model.promoted", {"version": "2"})
    with session_scope(database_url) as session:
        assert erase_mentions(session, {tricky, "k-9", ""}) == 2
    with session_scope(database_url) as session:
        left = session.scalars(select(OutboxEvent.payload).order_by(OutboxEvent.id)).all()
    assert left == [{"customer_id": "c_1000", "nps": 9}, {"version": "2"}]
