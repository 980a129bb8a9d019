"""The support API's strict edges (issue 19): ids beyond what an INTEGER column holds are 404,
never a 500 on PostgreSQL; the token comes before the body; answers are never cached."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from shared.auth import create_token
from tests.conftest import make_settings
from tests.model_service.conftest import auth


@pytest.fixture
def client(database_url: str, tmp_path, make_app) -> FlaskClient:
    empty_store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = make_settings(tmp_path, database_url, mlflow_tracking_uri=empty_store)
    return make_app(settings).test_client()


@pytest.mark.parametrize("follow_up_id", ["2147483647", "2147483648", "99999999999999999999"])
def test_follow_up_ids_beyond_an_integer_column_are_404(
    client: FlaskClient, database_url: str, follow_up_id: str
) -> None:
    headers = auth(create_token(database_url, "agent", "support"))
    answer = client.patch(f"/v1/follow-ups/{follow_up_id}", json={"note": "x"}, headers=headers)
    assert answer.status_code == 404
    assert answer.get_json()["code"] == 404


def test_the_document_bounds_the_follow_up_id(client: FlaskClient) -> None:
    operation = client.get("/openapi.json").get_json()["paths"]["/v1/follow-ups/{follow_up_id}"]
    [parameter] = [p for p in operation.get("parameters", []) if p["name"] == "follow_up_id"]
    assert parameter["schema"]["maximum"] == 2147483647


def test_the_token_is_checked_before_the_body_and_answers_are_not_cached(
    client: FlaskClient, database_url: str
) -> None:
    assert client.post("/v1/follow-ups", json={"nonsense": 1}).status_code == 401
    assert client.patch("/v1/follow-ups/1", data="x", content_type="text/csv").status_code == 401
    headers = auth(create_token(database_url, "agent", "support"))
    refused = client.patch(
        "/v1/follow-ups/1", data="note=x", content_type="text/csv", headers=headers
    )
    assert refused.status_code == 415
    listed = client.get("/v1/at-risk?task=brand_switch", headers=headers)
    assert listed.status_code == 200 and listed.headers["Cache-Control"] == "no-store"


def test_a_period_of_no_days_is_422_not_500(client: FlaskClient, database_url: str) -> None:
    headers = auth(create_token(database_url, "agent", "support"))
    for period in ("0d", "367d"):
        answer = client.get(f"/v1/journeys/critical?period={period}", headers=headers)
        assert answer.status_code == 422 and "period" in answer.get_json()["errors"], period
