"""The dashboard's aggregates take each customer's (each cart's) newest score by as_of: a
back-test scored later for an earlier date must not pass for today's risk."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from model_service.risk import newest_scores
from shared.db.session import session_scope
from shared.db.tables import RiskScore

TODAY = datetime(2026, 11, 1, tzinfo=UTC)
BACK_TEST = datetime(2026, 5, 1, tzinfo=UTC)


def _score(task: str, customer: str, as_of: datetime, probability: float, cart: str | None = None):
    return RiskScore(
        task=task,
        customer_id=customer,
        cart_id=cart,
        probability=probability,
        band="high" if probability > 0.5 else "low",
        model_name="m",
        model_version="1",
        as_of=as_of,
    )


def test_a_later_back_test_does_not_replace_the_newest_score(database_url: str) -> None:
    rows = [
        # In the order they are appended: today's scoring, then a back-test for May.
        _score("brand_switch", "c-1", TODAY, 0.9),
        _score("brand_switch", "c-2", TODAY, 0.2),
        _score("cart_abandonment", "c-1", TODAY, 0.7, cart="k-1"),
        _score("cart_abandonment", "c-1", TODAY, 0.4, cart="k-2"),
        _score("brand_switch", "c-1", BACK_TEST, 0.1),
        _score("brand_switch", "c-2", BACK_TEST, 0.8),
        _score("cart_abandonment", "c-1", BACK_TEST, 0.05, cart="k-1"),
        # A rescoring of the same day: the later row wins.
        _score("brand_switch", "c-2", TODAY, 0.3),
    ]
    with session_scope(database_url) as session:
        session.add_all(rows)
    with session_scope(database_url) as session:
        customers = newest_scores("brand_switch")
        carts = newest_scores("cart_abandonment")
        by_customer = dict(
            session.execute(select(customers.c.customer_id, customers.c.probability)).all()
        )
        by_cart = dict(session.execute(select(carts.c.cart_id, carts.c.probability)).all())
    assert by_customer == {"c-1": 0.9, "c-2": 0.3}
    assert by_cart == {"k-1": 0.7, "k-2": 0.4}
