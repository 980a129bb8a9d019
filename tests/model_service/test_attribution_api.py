"""GET /v1/attribution on a hand-made history, SQLite and PostgreSQL (issue 17): revenue per
channel per model, the sums, the cut-off, unknown channels, validation and access."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import insert

from model_service.attribution import attribution_report, stage_channels
from shared.attribution import MODELS
from shared.auth import create_token
from shared.db.session import session_scope
from shared.db.tables import Customer, Identity, JourneyEvent
from tests.conftest import make_settings
from tests.model_service.conftest import auth

UNTIL = datetime(2026, 6, 1, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=30)


def _at(days_before_until: float) -> datetime:
    return UNTIL - timedelta(days=days_before_until)


def _event(n: int, at: datetime, kind: str, **values) -> dict:
    return {"event_id": f"e{n}", "type": kind, "occurred_at": at, **values}


def seed(database_url: str) -> None:
    """c1 buys for 100 after display (anonymous on visitor v1, linked to c1) and email;
    c2 buys for 50 after a touch on an unknown channel; c3 only browses (a null path);
    c4 buys for 70 after `until` (outside). Linear: display 50, email 50, other 50."""
    events = [
        _event(1, _at(10), "touchpoint", visitor_id="v1", channel="display"),
        _event(2, _at(5), "touchpoint", customer_id="c1", channel="email"),
        _event(3, _at(4), "purchase", customer_id="c1", value=100.0),
        _event(4, _at(3), "touchpoint", customer_id="c2", channel="carrier_pigeon"),
        _event(5, _at(2), "purchase", customer_id="c2", value=50.0),
        _event(6, _at(8), "touchpoint", customer_id="c3", channel="display"),
        _event(7, _at(-1), "touchpoint", customer_id="c4", channel="paid_search"),
        _event(8, _at(-2), "purchase", customer_id="c4", value=70.0),
    ]
    with session_scope(database_url) as session:
        session.execute(
            insert(Customer), [{"id": c, "segment": "regular"} for c in ("c1", "c2", "c3", "c4")]
        )
        session.execute(
            insert(Identity), [{"visitor_id": "v1", "customer_id": "c1", "linked_at": _at(9)}]
        )
        session.execute(insert(JourneyEvent), events)


@pytest.fixture
def client(database_url: str, tmp_path, make_app) -> FlaskClient:
    seed(database_url)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = make_settings(tmp_path, database_url, mlflow_tracking_uri=store)
    return make_app(settings).test_client()


def test_every_model_credits_the_attributed_revenue_and_bad_queries_are_422(
    client: FlaskClient, database_url
) -> None:
    # One app for both (building one costs seconds): the refusals first.
    _bad_queries_are_422_naming_the_field_and_only_support_and_admin_may_ask(client, database_url)
    headers = auth(create_token(database_url, "agent", "support"))
    query = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    answer = client.get("/v1/attribution", query_string=query, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert [m["model"] for m in body["models"]] == list(MODELS)
    for model in body["models"]:
        assert model["attributed_revenue"] == 150.0  # c4's purchase is after until
        assert model["conversions"] == 2 and model["other_touches"] == 1
        assert math.isclose(sum(c["revenue"] for c in model["channels"]), 150.0)
    linear = next(m for m in body["models"] if m["model"] == "linear")
    assert {c["channel"]: c["revenue"] for c in linear["channels"]} == {
        "display": 50.0,
        "email": 50.0,
        "other": 50.0,
    }
    markov = next(m for m in body["models"] if m["model"] == "markov")
    assert "too few" in markov["interval_note"]
    one = client.get(
        "/v1/attribution", query_string={**query, "model": "last_click"}, headers=headers
    ).get_json()
    assert [m["model"] for m in one["models"]] == ["last_click"]
    assert {c["channel"]: c["revenue"] for c in one["models"][0]["channels"]} == {
        "email": 100.0,
        "other": 50.0,
        "display": 0.0,
    }


def test_nothing_after_until_is_read(database_url: str) -> None:
    seed(database_url)
    # Until just after c1's purchase: c2's touch and purchase are not known yet.
    early = attribution_report(database_url, since=SINCE, until=_at(3.5))["linear"]
    assert early.attributed_revenue == 100.0 and early.other_touches == 0
    stages = stage_channels(database_url, since=SINCE, until=_at(3.5))
    assert "other" not in {row.channel for row in stages}


BAD_QUERIES = [
    ({"model": "u_shaped"}, "model"),
    ({"kind": "refund"}, "kind"),
    ({"lookback_days": "0"}, "lookback_days"),
    ({"half_life_days": "nan"}, "half_life_days"),
    ({"since": "2026-06-02T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, "since"),
    ({"since": "2024-01-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, "since"),
    ({"since": "2100-01-01T00:00:00Z"}, "since"),
    ({"until": "yesterday"}, "until"),
    ({"colour": "red"}, "colour"),
]


def _bad_queries_are_422_naming_the_field_and_only_support_and_admin_may_ask(
    client: FlaskClient, database_url: str
) -> None:
    headers = auth(create_token(database_url, "agent", "support"))
    for query, field in BAD_QUERIES:
        answer = client.get("/v1/attribution", query_string=query, headers=headers)
        assert answer.status_code == 422, (query, answer.get_json())
        assert field in answer.get_json()["errors"], query
    assert client.get("/v1/attribution").status_code == 401
    ingest = auth(create_token(database_url, "shop", "ingest"))
    assert client.get("/v1/attribution", headers=ingest).status_code == 403
    admin = auth(create_token(database_url, "boss", "admin"))
    assert client.get("/v1/attribution", headers=admin).status_code == 200
