"""store_new, the write path of responses and events: SQL compiled by SQLAlchemy but run on the
DBAPI connection, so what it stores must read back through the ORM exactly as it was given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shared.db.session import get_engine, session_scope
from shared.db.tables import Customer, JourneyEvent, Response, Survey
from survey_service.storage import store_new

EVENTS = JourneyEvent.__table__
AWKWARD = 'Skor & "kängor" \\ åäö ✓ 100%'


def _stored(database_url: str, model: type, key: str) -> dict[str, dict[str, Any]]:
    columns = model.__table__.columns.keys()
    with session_scope(database_url) as session:
        return {
            getattr(row, key): {name: getattr(row, name) for name in columns}
            for row in session.scalars(select(model))
        }


def _customers(database_url: str) -> dict[str, tuple]:
    with session_scope(database_url) as session:
        return {
            c.id: (c.segment, c.locale, c.consent, c.created_at.tzinfo)
            for c in session.scalars(select(Customer))
        }


def _event(event_id: str, customer_id: str | None = None, **values: Any) -> dict[str, Any]:
    moment = datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=UTC)
    row = dict.fromkeys(EVENTS.columns.keys())
    return row | {
        "event_id": event_id,
        "customer_id": customer_id,
        "type": "page_view",
        "occurred_at": moment,
        "received_at": moment + timedelta(seconds=1),
        **values,
    }


def _pool_is_clean(database_url: str) -> None:
    engine = get_engine(database_url)
    assert engine.pool.checkedout() == 0
    connection = engine.raw_connection()
    driver = connection.driver_connection
    try:
        if engine.dialect.name == "postgresql":  # back out of autocommit, and idle
            assert driver.autocommit is False and driver.info.transaction_status.name == "IDLE"
        else:
            assert not driver.in_transaction
    finally:
        connection.close()


def test_a_response_reads_back_exactly_and_is_stored_once(database_url: str) -> None:
    with session_scope(database_url) as session:
        survey_id = session.scalar(select(Survey.id).where(Survey.key == "post_purchase"))
    now = datetime(2026, 11, 2, 8, 30, 15, 654321, tzinfo=UTC)
    row = {
        "response_id": "r-1",
        "survey_id": survey_id,
        "survey_key": "post_purchase",
        "site_id": None,
        "customer_id": "kund-ö",
        "visitor_id": "v-1",
        "stage": "purchase",
        "cart_id": None,
        "order_id": "o-1",
        "locale": "sv",
        "answers": {"csat": 4, "comment": AWKWARD, "nested": [1, 2.5, None, True]},
        "nps": 9,
        "csat": 4,
        "ces": None,
        "reason": None,
        "comment": AWKWARD,
        "body_hash": "ab" * 32,
        "submitted_at": now,
        "received_at": now,
    }
    table = Response.__table__
    assert store_new(database_url, table, [row], "response_id", {"kund-ö"}) == 1
    assert store_new(database_url, table, [row], "response_id", {"kund-ö"}) == 0
    assert _stored(database_url, Response, "response_id") == {"r-1": row}
    assert _customers(database_url) == {"kund-ö": (None, None, False, UTC)}
    _pool_is_clean(database_url)


def test_a_batch_reads_back_exactly_and_duplicates_are_not_counted(database_url: str) -> None:
    first = [
        _event("e-1", "c-1", value=12.345678901234567, properties={"note": AWKWARD}),
        _event("e-2", "c-2", product_category=AWKWARD, properties={"list": [1, None, True]}),
        _event("e-3", site_id=None, device="mobile", properties=None),
        _event("e-1", "c-1"),  # repeated within the batch
    ]
    assert store_new(database_url, EVENTS, first, "event_id", {"c-1", "c-2"}) == 3
    second = [_event("e-2", "c-2"), _event("e-4", "c-3", value=0.0), _event("e-4", "c-3")]
    assert store_new(database_url, EVENTS, second, "event_id", {"c-2", "c-3"}) == 1
    assert store_new(database_url, EVENTS, [_event("e-4", "c-4")], "event_id", {"c-4"}) == 0
    assert _stored(database_url, JourneyEvent, "event_id") == {
        row["event_id"]: row for row in (first[0], first[1], first[2], second[1])
    }
    assert _customers(database_url) == {
        cid: (None, None, False, UTC) for cid in ("c-1", "c-2", "c-3", "c-4")
    }
    _pool_is_clean(database_url)


def test_a_failed_write_stores_nothing_and_returns_its_connection(database_url: str) -> None:
    batch = [_event("ok", "c-1"), _event("bad", "c-2", site_id=999_999)]  # no such site
    with pytest.raises(IntegrityError):
        store_new(database_url, EVENTS, batch, "event_id", {"c-1", "c-2"})
    with pytest.raises(IntegrityError):
        store_new(database_url, EVENTS, batch[1:], "event_id", {"c-2"})
    assert _stored(database_url, JourneyEvent, "event_id") == {}
    assert _customers(database_url) == {}
    _pool_is_clean(database_url)
    assert store_new(database_url, EVENTS, batch[:1], "event_id", {"c-1"}) == 1
