"""The webhook admin API: the secret shown once, validation naming the field, deliveries
listed by status and endpoint, re-sending, and admin tokens only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from shared.db.session import session_scope
from shared.outbox import enqueue
from shared.settings import Settings
from shared.webhooks.delivery import deliver_due
from tests.conftest import make_settings
from tests.survey_service.conftest import sqlite_only

BASE = "/v1/admin/webhooks"
HOOK = "http://127.0.0.1:9/hook"  # nothing listens on the discard port


@pytest.fixture
def client(app_factory) -> FlaskClient:
    return app_factory(webhooks_allow_private=True).test_client()


def _create(client: FlaskClient, admin: dict, **body) -> dict:
    body = {"url": HOOK, "events": ["response.detractor"], **body}
    answer = client.post(f"{BASE}/endpoints", json=body, headers=admin)
    assert answer.status_code == 201, answer.json
    return answer.json


def test_the_secret_is_shown_once_and_never_listed(client, admin) -> None:
    made = _create(client, admin, description="helpdesk")
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 40
    assert made["secret_hint"] == made["secret"][:10] + "…"
    assert made["created_by"] == "test-admin"
    listed = client.get(f"{BASE}/endpoints", headers=admin).json["items"]
    assert [e["id"] for e in listed] == [made["id"]]
    assert "secret" not in listed[0]
    one = client.get(f"{BASE}/endpoints/{made['id']}", headers=admin)
    assert made["secret"] not in one.text


def test_an_endpoint_is_changed_rotated_and_deleted(client, admin) -> None:
    made = _create(client, admin)
    path = f"{BASE}/endpoints/{made['id']}"
    changed = client.patch(
        path,
        json={"events": ["model.promoted", "customer.risk_high"], "active": False},
        headers=admin,
    )
    assert changed.status_code == 200
    assert changed.json["events"] == ["customer.risk_high", "model.promoted"]
    assert changed.json["active"] is False and changed.json["secret"] is None
    rotated = client.patch(path, json={"rotate_secret": True}, headers=admin).json
    assert rotated["secret"] not in (None, made["secret"])
    assert client.delete(path, headers=admin).status_code == 204
    assert client.get(path, headers=admin).status_code == 404


@sqlite_only
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["response.detractor"]}, "url"),
        ({"url": "ftp://example.com/x", "events": ["response.detractor"]}, "url"),
        ({"url": "javascript:alert(1)", "events": ["response.detractor"]}, "url"),
        ({"url": "http://example.com\x00/x", "events": ["response.detractor"]}, "url"),
        ({"url": HOOK, "events": []}, "events"),
        ({"url": HOOK, "events": ["customer.deleted"]}, "events.0"),
        ({"url": HOOK}, "events"),
        ({"url": HOOK, "events": "response.detractor"}, "events"),
        ({"url": HOOK, "events": ["response.detractor"], "secret": "mine"}, "secret"),
        ({"url": HOOK, "events": ["response.detractor"], "description": "x" * 201}, "description"),
        ({"url": 7, "events": ["response.detractor"]}, "url"),
    ],
)
def test_bad_endpoints_are_422_naming_the_field(client, admin, body, field) -> None:
    answer = client.post(f"{BASE}/endpoints", json=body, headers=admin)
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"], answer.json


@sqlite_only
def test_private_addresses_are_refused_when_not_allowed(app_factory, admin) -> None:
    client = app_factory().test_client()  # the default: webhooks_allow_private off
    answer = client.post(
        f"{BASE}/endpoints",
        json={"url": "http://169.254.169.254/latest", "events": ["model.promoted"]},
        headers=admin,
    )
    assert answer.status_code == 422
    assert "private" in answer.json["errors"]["url"][0]


@sqlite_only
def test_only_admins_manage_webhooks(client, support) -> None:
    assert client.get(f"{BASE}/endpoints").status_code == 401
    assert client.get(f"{BASE}/endpoints", headers=support).status_code == 403
    body = {"url": HOOK, "events": ["model.promoted"]}
    assert client.post(f"{BASE}/endpoints", json=body, headers=support).status_code == 403
    assert client.get(f"{BASE}/deliveries", headers=support).status_code == 403


@sqlite_only
@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/endpoints/999", "get"),
        ("/endpoints/99999999999999", "patch"),
        ("/endpoints/999", "delete"),
        ("/deliveries/999/resend", "post"),
        ("/deliveries/99999999999999/resend", "post"),
    ],
)
def test_unknown_ids_are_404(client, admin, path, method) -> None:
    kwargs = {"json": {"active": True}} if method == "patch" else {}
    answer = getattr(client, method)(BASE + path, headers=admin, **kwargs)
    assert answer.status_code == 404
    assert answer.json["message"].startswith("No webhook")


@sqlite_only
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("limit=0", "limit"),
        ("endpoint_id=x", "endpoint_id"),
        ("colour=red", "colour"),
    ],
)
def test_bad_delivery_filters_are_422_naming_the_field(client, admin, query, field) -> None:
    answer = client.get(f"{BASE}/deliveries?{query}", headers=admin)
    assert answer.status_code == 422
    assert field in answer.json["errors"]


def test_deliveries_are_listed_filtered_paged_and_resent(
    client, admin, tmp_path, database_url
) -> None:
    first = _create(client, admin)
    second = _create(client, admin, events=["response.detractor", "model.promoted"])
    with session_scope(database_url) as session:
        enqueue(session, "response.detractor", {"response_id": "r-1", "nps": 2})
        enqueue(session, "model.promoted", {"task": "t", "version": "4"})
    settings: Settings = make_settings(tmp_path, database_url, webhooks_allow_private=True)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    deliver_due(settings, now=now, timeout=2)  # nothing listens: all retrying

    every = client.get(f"{BASE}/deliveries", headers=admin).json
    assert every["total"] == 3
    assert [d["id"] for d in every["items"]] == [3, 2, 1]  # newest first
    assert {d["status"] for d in every["items"]} == {"pending"}
    assert all(d["attempts"] == 1 and d["last_error"] for d in every["items"])
    mine = client.get(f"{BASE}/deliveries?endpoint_id={second['id']}", headers=admin).json
    assert mine["total"] == 2 and {d["endpoint_id"] for d in mine["items"]} == {second["id"]}
    page = client.get(f"{BASE}/deliveries?limit=1&offset=1", headers=admin).json
    assert [d["id"] for d in page["items"]] == [2]
    assert client.get(f"{BASE}/deliveries?status=delivered", headers=admin).json["total"] == 0

    delivery = every["items"][-1]
    assert delivery["endpoint_id"] == first["id"]
    resent = client.post(f"{BASE}/deliveries/{delivery['id']}/resend", headers=admin)
    assert resent.status_code == 200
    assert resent.json["status"] == "pending"
    assert resent.json["next_attempt_at"] > delivery["next_attempt_at"]
