"""The survey service's strict edges (issue 19): the token before the body, 415 for bodies that
are not JSON, no caching of authorised answers, last_used_at written once a minute, readiness
details only to staff, and the client address from trusted proxies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from shared import auth as auth_module
from shared.auth import create_token, hash_token
from shared.db.session import session_scope
from shared.db.tables import ApiToken


def test_an_anonymous_caller_with_an_invalid_body_gets_401_not_the_field_errors(
    client: FlaskClient, admin: dict
) -> None:
    answer = client.post("/v1/admin/surveys", json={"key": 5, "nonsense": True})
    assert answer.status_code == 401
    assert "key" not in answer.get_json().get("errors", {})
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    # With the token, the same body gets its field errors.
    answer = client.post("/v1/admin/surveys", json={"key": 5, "nonsense": True}, headers=admin)
    assert answer.status_code == 422 and "nonsense" in answer.get_json()["errors"]


def test_a_body_that_is_not_json_is_415(client: FlaskClient, admin: dict, site: dict) -> None:
    for content_type in ("application/x-www-form-urlencoded", "application/xml"):
        answer = client.post(
            "/v1/admin/surveys", data="key=x", content_type=content_type, headers=admin
        )
        assert answer.status_code == 415, content_type
        body = answer.get_json()
        assert body["code"] == 415 and "Content-Type" in body["errors"]
    answer = client.post("/v1/events", data="a=b", content_type="multipart/form-data", headers=site)
    assert answer.status_code == 415


def test_the_openapi_document_lists_415_and_503(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    create = paths["/v1/admin/surveys"]["post"]["responses"]
    assert {"415", "503", "401", "422"} <= set(create)
    assert "Retry-After" in create["503"]["headers"]
    listing = paths["/v1/admin/surveys"]["get"]["responses"]
    assert "503" in listing and "415" not in listing and "429" not in listing
    events = paths["/v1/events"]["post"]["responses"]
    assert "Retry-After" in events["429"]["headers"]


def test_authorised_answers_and_exports_are_never_cached(
    client: FlaskClient, admin: dict, support: dict
) -> None:
    for path, headers in (
        ("/v1/admin/surveys", support),
        ("/v1/admin/responses", support),
        ("/v1/admin/responses/export?format=csv", support),
        ("/v1/admin/customers/c-1/export", admin),
    ):
        answer = client.get(path, headers=headers)
        assert answer.headers.get("Cache-Control") == "no-store", path
    refused = client.get("/v1/admin/surveys")
    assert refused.status_code == 401 and refused.headers.get("Cache-Control") == "no-store"


def _last_used(database_url: str, token: str) -> datetime | None:
    with session_scope(database_url) as session:
        return session.scalar(
            select(ApiToken.last_used_at).where(ApiToken.token_hash == hash_token(token))
        )


def _set_last_used(database_url: str, token: str, when: datetime) -> None:
    with session_scope(database_url) as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(token))
            .values(last_used_at=when)
        )
    auth_module._USE_NOTED.clear()  # as if this process had not written it for a minute


def test_last_used_at_is_written_at_most_once_a_minute(
    client: FlaskClient, database_url: str
) -> None:
    token = create_token(database_url, "last-used", "support")
    headers = {"Authorization": f"Bearer {token}"}
    assert _last_used(database_url, token) is None
    assert client.get("/v1/admin/surveys", headers=headers).status_code == 200
    first = _last_used(database_url, token)
    assert first is not None
    assert abs(datetime.now(UTC) - first.replace(tzinfo=first.tzinfo or UTC)) < timedelta(
        seconds=30
    )

    # Another process wrote it 30 s ago: not written again.
    recent = datetime.now(UTC) - timedelta(seconds=30)
    _set_last_used(database_url, token, recent)
    client.get("/v1/admin/surveys", headers=headers)
    kept = _last_used(database_url, token)
    assert kept.replace(tzinfo=kept.tzinfo or UTC) == recent

    # Two minutes ago: written.
    _set_last_used(database_url, token, datetime.now(UTC) - timedelta(minutes=2))
    client.get("/v1/admin/surveys", headers=headers)
    renewed = _last_used(database_url, token)
    assert datetime.now(UTC) - renewed.replace(tzinfo=renewed.tzinfo or UTC) < timedelta(seconds=30)


def test_readyz_tells_anonymous_callers_only_whether_it_is_ready(
    client: FlaskClient, admin: dict, support: dict, database_url: str
) -> None:
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 200 and anonymous.get_json() == {"status": "ready"}
    ingest = {"Authorization": f"Bearer {create_token(database_url, 'shop', 'ingest')}"}
    assert client.get("/readyz", headers=ingest).get_json() == {"status": "ready"}
    for headers in (admin, support):
        detailed = client.get("/readyz", headers=headers).get_json()
        assert detailed == {"status": "ready", "database": "ok"}


def _bucket_test_app(app_factory: Callable[..., Flask], proxies: int) -> FlaskClient:
    return app_factory(rate_limit_public="2/minute", trusted_proxies=proxies).test_client()


def _statuses(client: FlaskClient, forwarded_for: str, times: int) -> list[int]:
    return [
        client.get(
            "/v1/surveys/post_purchase", headers={"X-Forwarded-For": forwarded_for}
        ).status_code
        for _ in range(times)
    ]


def test_behind_a_trusted_proxy_each_client_address_has_its_own_rate_limit(
    app_factory: Callable[..., Flask],
) -> None:
    client = _bucket_test_app(app_factory, proxies=1)
    assert 429 not in _statuses(client, "203.0.113.7", 2)
    assert _statuses(client, "203.0.113.7", 1) == [429]
    assert 429 not in _statuses(client, "198.51.100.9", 2), "another shopper, another bucket"


def test_without_trusted_proxies_the_forwarded_address_is_ignored(
    app_factory: Callable[..., Flask],
) -> None:
    client = _bucket_test_app(app_factory, proxies=0)
    _statuses(client, "203.0.113.7", 2)
    assert _statuses(client, "198.51.100.9", 1) == [429], "a header anyone can forge"
