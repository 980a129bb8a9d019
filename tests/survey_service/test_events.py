"""POST /v1/events and /v1/identify: batches, duplicates, all-or-nothing validation."""

from __future__ import annotations

from datetime import UTC, datetime

from flask.testing import FlaskClient
from sqlalchemy import select

from shared.db.session import session_scope
from shared.db.tables import Customer, Identity, JourneyEvent
from tests.survey_service.conftest import event, sqlite_only


def _events(database_url: str) -> list[JourneyEvent]:
    with session_scope(database_url) as session:
        return list(session.scalars(select(JourneyEvent).order_by(JourneyEvent.event_id)))


def test_a_batch_is_stored_and_a_retry_counts_duplicates(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    batch = [
        event("e-1"),
        event("e-2", type="add_to_cart", customer_id="c-1", cart_id="k-1", value=499.0),
        event(
            "e-3",
            type="purchase",
            stage="purchase",
            product_category="shoes",
            device="mobile",
            properties={"coupon": "BLACKFRIDAY", "items": [1, 2]},
        ),
        event("e-1"),
    ]
    answer = client.post("/v1/events", json={"events": batch}, headers=site)
    assert answer.status_code == 202
    assert answer.json == {"accepted": 3, "duplicates": 1}
    again = client.post("/v1/events", json={"events": batch[:2] + [event("e-4")]}, headers=site)
    assert again.json == {"accepted": 1, "duplicates": 2}
    stored = _events(database_url)
    assert [e.event_id for e in stored] == ["e-1", "e-2", "e-3", "e-4"]
    assert stored[1].value == 499.0 and stored[1].cart_id == "k-1"
    assert stored[2].properties == {"coupon": "BLACKFRIDAY", "items": [1, 2]}
    with session_scope(database_url) as session:
        assert session.get(Customer, "c-1") is not None


def test_every_value_comes_back_exactly_as_sent(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    """A batch reaches PostgreSQL as one JSON text: quotes, backslashes, non-ASCII text,
    microseconds, full float precision and nested properties must all survive the trip."""
    awkward = 'Skor & "kängor" \\ åäö ÆØ ✓'
    batch = [
        event(
            "exact-1",
            customer_id="kund-ö",
            product_category=awkward,
            value=12.345678901234567,
            occurred_at="2026-11-01T10:00:00.123456Z",
            properties={"note": awkward, "nested": {"list": [1, 2.5, None, True]}},
        ),
        event("exact-2", value=None, properties=None),
    ]
    assert client.post("/v1/events", json={"events": batch}, headers=site).status_code == 202
    first, second = _events(database_url)
    assert first.product_category == awkward and first.customer_id == "kund-ö"
    assert first.value == 12.345678901234567
    assert first.occurred_at == datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert first.properties == {"note": awkward, "nested": {"list": [1, 2.5, None, True]}}
    assert second.value is None and second.properties is None and second.customer_id is None
    with session_scope(database_url) as session:
        assert session.get(Customer, "kund-ö") is not None


def test_a_naive_time_is_utc_and_an_offset_is_converted(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    batch = [
        event("naive", occurred_at="2026-11-01T10:00:00"),
        event("offset", occurred_at="2026-11-01T12:00:00+02:00"),
    ]
    assert client.post("/v1/events", json={"events": batch}, headers=site).status_code == 202
    expected = datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert [e.occurred_at for e in _events(database_url)] == [expected, expected]


@sqlite_only
def test_one_bad_event_rejects_the_whole_batch_naming_index_and_field(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    batch = [
        event("ok-1"),
        event("ok-2"),
        event("ok-3"),
        event("bad", type="teleport", channel="pigeon", value=float("inf")),
    ]
    batch.append({"event_id": "bad-2", "type": "page_view", "occurred_at": "yesterday"})
    answer = client.post("/v1/events", json={"events": batch}, headers=site)
    assert answer.status_code == 422
    errors = answer.json["errors"]
    assert {
        "events.3.type",
        "events.3.channel",
        "events.3.value",
        "events.4.occurred_at",
        "events.4.visitor_id",
    } <= set(errors)
    assert not any(key.startswith(("events.0", "events.1", "events.2")) for key in errors)
    assert _events(database_url) == []


@sqlite_only
def test_batches_are_limited_to_500_events(client: FlaskClient, site: dict) -> None:
    too_many = [event(f"e-{i}") for i in range(501)]
    answer = client.post("/v1/events", json={"events": too_many}, headers=site)
    assert answer.status_code == 422
    assert "events" in answer.json["errors"]
    assert client.post("/v1/events", json={"events": []}, headers=site).status_code == 422


@sqlite_only
def test_a_body_over_the_size_limit_is_413(app_factory, site: dict) -> None:
    client = app_factory(max_body_bytes=2000).test_client()
    batch = [event(f"e-{i}", properties={"pad": "x" * 500}) for i in range(10)]
    answer = client.post("/v1/events", json={"events": batch}, headers=site)
    assert answer.status_code == 413
    assert answer.json["code"] == 413


def test_identify_links_devices_to_one_customer(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    first = client.post(
        "/v1/identify", json={"visitor_id": "laptop", "customer_id": "c-7"}, headers=site
    )
    assert first.status_code == 200
    assert first.json == {"visitor_id": "laptop", "customer_id": "c-7", "new_customer": True}
    second = client.post(
        "/v1/identify", json={"visitor_id": "phone", "customer_id": "c-7"}, headers=site
    )
    assert second.json["new_customer"] is False
    client.post("/v1/identify", json={"visitor_id": "phone", "customer_id": "c-8"}, headers=site)
    with session_scope(database_url) as session:
        links = dict(session.execute(select(Identity.visitor_id, Identity.customer_id)).all())
    assert links == {"laptop": "c-7", "phone": "c-8"}
    missing = client.post("/v1/identify", json={"visitor_id": "x"}, headers=site)
    assert missing.status_code == 422 and "customer_id" in missing.json["errors"]
