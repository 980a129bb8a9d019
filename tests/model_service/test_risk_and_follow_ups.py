"""At-risk lists, customer profiles and follow-ups over the risk-score history, on SQLite and
PostgreSQL, through the API with real tokens (no model is served: the scores are written here)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from model_service import service
from shared.auth import create_token
from shared.db.session import session_scope
from shared.db.tables import Customer, JourneyEvent, Response, RiskScore
from tests.conftest import make_settings
from tests.model_service.conftest import auth

DAY1 = datetime(2026, 9, 1, tzinfo=UTC)
DAY2 = datetime(2026, 9, 8, tzinfo=UTC)


def _score(customer: str, probability: float, as_of: datetime, **extra: object) -> dict:
    row = {
        "task": "brand_switch",
        "customer_id": customer,
        "stage": "loyalty",
        "segment": "premium",
        "product_category": "electronics",
        "value": 100.0,
        "probability": probability,
        "band": "high" if probability >= 0.5 else "low",
        "reasons": [
            {"feature": "recency_days", "value": 120.0, "reference": 30.0, "contribution": 0.2}
        ],
        "model_name": "kundresa-brand-switch",
        "model_version": "1",
        "as_of": as_of,
    }
    row.update(extra)
    return row


def _seed(database_url: str) -> None:
    with session_scope(database_url) as session:
        session.execute(
            insert(Customer),
            [{"id": f"c{i}", "segment": "premium", "locale": "sv"} for i in range(6)],
        )
        rows = [
            # c0 was risky on day 1 and is calm on day 2: the newest score counts.
            _score("c0", 0.95, DAY1),
            _score("c0", 0.10, DAY2),
            _score("c1", 0.80, DAY2),
            _score("c2", 0.80, DAY2),
            _score("c3", 0.60, DAY2, segment="regular"),
            _score("c4", 0.40, DAY2, stage="desire"),
            _score("c5", 0.70, DAY2, task="cart_abandonment", cart_id="k5"),
        ]
        session.execute(insert(RiskScore), rows)
        session.add(
            JourneyEvent(
                event_id="e1",
                customer_id="c1",
                type="purchase",
                value=99.0,
                occurred_at=DAY1 - timedelta(days=3),
            )
        )
        session.add(
            Response(
                response_id="r1",
                survey_id=1,
                survey_key="post_purchase",
                customer_id="c1",
                answers={"csat": 2},
                csat=2,
                body_hash="x",
                submitted_at=DAY1 - timedelta(days=2),
            )
        )


@pytest.fixture(scope="module")
def empty_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An MLflow store that holds no model at all: these tests need none."""
    return f"sqlite:///{tmp_path_factory.mktemp('empty-mlflow') / 'mlflow.db'}"


@pytest.fixture
def client(database_url: str, tmp_path: Path, empty_mlflow_store: str, make_app):
    _seed(database_url)
    settings = make_settings(tmp_path, database_url, mlflow_tracking_uri=empty_mlflow_store)
    return make_app(settings).test_client()


def test_at_risk_lists_the_newest_score_per_customer_riskiest_first_page_by_page(
    client, database_url: str
) -> None:
    headers = auth(create_token(database_url, "agent", "support"))
    seen, cursor = [], None
    while True:
        url = "/v1/at-risk?task=brand_switch&limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=headers).get_json()
        seen += [(item["customer_id"], item["probability"]) for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [("c1", 0.8), ("c2", 0.8), ("c3", 0.6), ("c4", 0.4), ("c0", 0.1)]
    first = client.get("/v1/at-risk?limit=1", headers=headers).get_json()["items"][0]
    assert first["reasons"][0]["text"] == "No purchase for 120 days."
    assert first["reasons"][0]["action"]


def test_at_risk_filters_by_stage_segment_band_and_probability(client, database_url) -> None:
    headers = auth(create_token(database_url, "agent", "support"))

    def ids(query: str) -> list[str]:
        body = client.get(f"/v1/at-risk?{query}", headers=headers).get_json()
        return [item["customer_id"] for item in body["items"]]

    assert ids("segment=regular") == ["c3"]
    assert ids("stage=desire") == ["c4"]
    assert ids("band=high") == ["c1", "c2", "c3"]
    assert ids("min_probability=0.7") == ["c1", "c2"]
    assert ids("task=cart_abandonment") == ["c5"]
    swedish = client.get(
        "/v1/at-risk?limit=1", headers={**headers, "Accept-Language": "sv"}
    ).get_json()
    assert swedish["items"][0]["reasons"][0]["text"] == "Inget köp på 120 dagar."


def test_follow_up_moves_forward_keeps_its_history_and_shows_whether_risk_went_down(
    client, database_url: str
) -> None:
    headers = auth(create_token(database_url, "agent@shop.example", "support"))
    taken = client.post(
        "/v1/follow-ups", json={"customer_id": "c1", "note": "Will call"}, headers=headers
    )
    assert taken.status_code == 201, taken.get_json()
    follow_up = taken.get_json()
    assert follow_up["status"] == "open" and follow_up["assignee"] == "agent@shop.example"
    assert follow_up["risk_before"] == 0.8

    again = client.post("/v1/follow-ups", json={"customer_id": "c1"}, headers=headers)
    assert again.status_code == 409
    listed = client.get("/v1/at-risk?without_follow_up=true", headers=headers).get_json()
    assert "c1" not in [item["customer_id"] for item in listed["items"]]

    url = f"/v1/follow-ups/{follow_up['id']}"
    assert (
        client.patch(
            url, json={"status": "contacted", "note": "Called"}, headers=headers
        ).status_code
        == 200
    )
    resolved = client.patch(url, json={"status": "resolved"}, headers=headers).get_json()
    assert resolved["resolved_at"] and resolved["risk_change"] is None
    back = client.patch(url, json={"status": "open"}, headers=headers)
    assert back.status_code == 422 and "status" in back.get_json()["errors"]

    # The next scoring after the case was resolved shows the outcome.
    with session_scope(database_url) as session:
        session.execute(insert(RiskScore), [_score("c1", 0.3, datetime.now(UTC))])
    with session_scope(database_url) as session:
        outcome = service.get_follow_up(session, follow_up["id"])
    assert outcome["risk_change"] == pytest.approx(0.3 - 0.8)
    assert [n["status"] for n in outcome["notes"]] == ["open", "contacted", "resolved"]
    assert [n["note"] for n in outcome["notes"]][:2] == ["Will call", "Called"]


def test_customer_profile_has_timeline_in_order_risk_history_and_follow_ups(
    client, database_url: str
) -> None:
    headers = auth(create_token(database_url, "agent", "support"))
    body = client.get("/v1/customers/c1", headers=headers).get_json()
    assert [entry["kind"] for entry in body["timeline"]] == ["event", "survey_answer"]
    assert body["timeline"][1]["csat"] == 2
    assert [s["probability"] for s in body["risk_history"]] == [0.8]
    assert body["stage"] == "loyalty"
    assert client.get("/v1/customers/nobody", headers=headers).status_code == 404


def test_support_routes_need_a_support_token(client, database_url: str) -> None:
    assert client.get("/v1/at-risk").status_code == 401
    assert client.get("/v1/at-risk", headers=auth("kr_wrong")).status_code == 401
    ingest = auth(create_token(database_url, "shop", "ingest"))
    refused = client.get("/v1/at-risk", headers=ingest)
    assert refused.status_code == 403 and "Authorization" in refused.get_json()["errors"]
    admin = auth(create_token(database_url, "boss", "admin"))
    assert client.get("/v1/at-risk", headers=admin).status_code == 200


def test_bad_queries_are_422_naming_the_field(client, database_url: str) -> None:
    headers = auth(create_token(database_url, "agent", "support"))
    for query, field in [
        ("task=churn", "task"),
        ("limit=0", "limit"),
        ("min_probability=2", "min_probability"),
        ("cursor=%00garbage", "cursor"),
        ("colour=red", "colour"),
    ]:
        response = client.get(f"/v1/at-risk?{query}", headers=headers)
        assert response.status_code == 422, query
        assert field in response.get_json()["errors"], (query, response.get_json())
    bad = client.patch("/v1/follow-ups/999", json={"status": "done"}, headers=headers)
    assert bad.status_code == 422 and "status" in bad.get_json()["errors"]
    missing = client.patch("/v1/follow-ups/999", json={"status": "resolved"}, headers=headers)
    assert missing.status_code == 404
    unknown = client.post("/v1/follow-ups", json={"customer_id": "ghost"}, headers=headers)
    assert unknown.status_code == 404 and "customer_id" in unknown.get_json()["errors"]


def test_a_tampered_or_forged_cursor_is_422_naming_the_cursor(client, database_url: str) -> None:
    headers = auth(create_token(database_url, "agent", "support"))
    first = client.get("/v1/at-risk?task=brand_switch&limit=2", headers=headers).get_json()
    cursor = first["next_cursor"]
    assert cursor
    payload, signature = cursor.rsplit(".", 1)
    unsigned = base64.urlsafe_b64encode(json.dumps([0.8, "c1", 1]).encode()).decode()
    for forged in (
        payload + "." + signature[::-1],  # the signature edited
        unsigned.rstrip("=") + "." + signature,  # another position under its signature
        unsigned,  # made by hand, unsigned
    ):
        response = client.get(f"/v1/at-risk?task=brand_switch&cursor={forged}", headers=headers)
        assert response.status_code == 422, forged
        assert "cursor" in response.get_json()["errors"]
    follows = client.get(f"/v1/at-risk?task=brand_switch&cursor={cursor}", headers=headers)
    assert follows.status_code == 200


def test_predictions_without_a_champion_answer_503_and_readyz_is_503(
    client, database_url: str
) -> None:
    headers = auth(create_token(database_url, "agent", "support"))
    response = client.post(
        "/v1/predict/brand-switch", json={"customer_ids": ["c1"]}, headers=headers
    )
    assert response.status_code == 503
    assert "kundresa-brand-switch@champion" in response.get_json()["message"]
    # Not ready until every task serves a model: a balancer sends predictions elsewhere.
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 503 and anonymous.get_json() == {"status": "not ready"}
    ready = client.get("/readyz", headers=headers).get_json()
    assert ready["models"]["brand_switch"]["loaded"] is None
    assert ready["status"] == "not ready" and ready["database"] == "ok"
