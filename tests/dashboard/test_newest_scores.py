"""The newest score of each customer (each cart) is the latest as_of, then the highest id: a
back-test scored later for an earlier date must not pass for today's risk, and the at-risk
list and every aggregate of it take the same rows."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select

from model_service.dashboard.score_figures import risk_distribution, risk_summary
from model_service.risk import at_risk, newest_scores
from shared.db.session import session_scope
from shared.db.tables import RiskScore

TODAY = datetime(2026, 11, 1, tzinfo=UTC)
BACK_TEST = datetime(2026, 5, 1, tzinfo=UTC)


def _score(
    task: str, customer: str | None, as_of: datetime, probability: float, cart: str | None = None
):
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


def test_the_at_risk_list_and_its_aggregates_count_the_same_newest_rows(
    database_url: str,
) -> None:
    """Ties on as_of (a rescoring of the same moment), a customer with two carts, an anonymous
    cart and a back-test: the list, its tiles and the distribution all take the same rows."""
    rows = [
        _score("brand_switch", "c-1", TODAY, 0.9),
        # The same moment rescored, less risky: the later row (higher id) is the newest,
        # although its probability is lower.
        _score("brand_switch", "c-1", TODAY, 0.7),
        _score("brand_switch", "c-2", TODAY, 0.6),
        _score("brand_switch", "c-2", TODAY, 0.6),  # an exact tie: the higher id again
        _score("brand_switch", "c-3", TODAY, 0.2),
        _score("brand_switch", "c-3", BACK_TEST, 0.95),
        _score("cart_abandonment", "c-1", TODAY, 0.8, cart="k-1"),
        _score("cart_abandonment", "c-1", TODAY, 0.3, cart="k-1"),
        _score("cart_abandonment", "c-1", TODAY, 0.9, cart="k-2"),
        _score("cart_abandonment", None, TODAY, 0.99, cart="k-anonymous"),
    ]
    with session_scope(database_url) as session:
        session.add_all(rows)
        session.flush()
        ids = [row.id for row in rows]
    expected = {
        "brand_switch": {ids[1], ids[3], ids[4]},
        "cart_abandonment": {ids[7], ids[8]},
    }
    app = Flask(__name__)
    app.secret_key = "test"
    for task, listed in expected.items():
        with app.app_context():
            paged, cursor = [], None
            while True:
                page = at_risk(database_url, task, limit=1, cursor=cursor)
                paged += page.items
                cursor = page.next_cursor
                if cursor is None:
                    break
        assert {item.score_id for item in paged} == listed, task
        assert len(paged) == len(listed), task
        with session_scope(database_url) as session:
            summary = risk_summary(session, task)
            distribution = risk_distribution(session, task)
            newest = newest_scores(task)
            every_newest = set(session.scalars(select(newest.c.id)))
        assert summary["scored"] == len(paged)
        assert summary["high"] == sum(item.band == "high" for item in paged)
        assert summary["high_value_at_risk"] == sum(
            item.value_at_risk for item in paged if item.band == "high"
        )
        # The distribution also counts anonymous visitors' carts, which nobody can call.
        anonymous = {ids[9]} if task == "cart_abandonment" else set()
        assert every_newest == listed | anonymous
        assert distribution.total == len(every_newest)
