"""Fixtures for the survey service: an app built by the factory on a real database (SQLite,
then PostgreSQL), a site with its key and origin, and tokens for each role."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shared.auth import create_site, create_token
from survey_service.app import create_app
from tests.conftest import make_settings

ORIGIN = "https://shop.example"


@pytest.fixture
def app_factory(tmp_path: Path, database_url: str) -> Callable[..., Flask]:
    """Build the app on this test's database with settings overrides."""

    def build(**overrides: Any) -> Flask:
        overrides.setdefault("rate_limit_public", "10000/minute")
        return create_app(make_settings(tmp_path, database_url, **overrides))

    return build


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def site_key(database_url: str) -> str:
    return create_site(database_url, "Test shop", [ORIGIN])


@pytest.fixture
def ingest_token(database_url: str) -> str:
    return create_token(database_url, "test-back-office", "ingest")


@pytest.fixture
def site(site_key: str, ingest_token: str) -> dict[str, str]:
    """Headers of the shop's back office: the site key and an ingest token (no Origin)."""
    return {"X-Site-Key": site_key, "Authorization": f"Bearer {ingest_token}"}


@pytest.fixture
def browser(site_key: str) -> dict[str, str]:
    """Headers of a browser on the shop's pages: the site key and an allowed Origin."""
    return {"X-Site-Key": site_key, "Origin": ORIGIN}


@pytest.fixture
def admin(database_url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(database_url, 'test-admin', 'admin')}"}


@pytest.fixture
def support(database_url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(database_url, 'test-support', 'support')}"}


def post_purchase_body(**overrides: Any) -> dict[str, Any]:
    """A valid post-purchase response; override any field."""
    body: dict[str, Any] = {
        "response_id": str(uuid.uuid4()),
        "survey_key": "post_purchase",
        "visitor_id": "v-1",
        "customer_id": "c-1",
        "stage": "purchase",
        "order_id": "o-1",
        "locale": "sv",
        "answers": {"csat": 4, "ces": 6, "nps": 9, "comment": "Snabb leverans"},
    }
    body.update(overrides)
    return body


def event(event_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid journey event; override any field."""
    body: dict[str, Any] = {
        "event_id": event_id,
        "type": "page_view",
        "visitor_id": "v-1",
        "occurred_at": "2026-11-01T10:00:00Z",
        "channel": "organic_search",
    }
    body.update(overrides)
    return body


# For tests whose subject is not the database (validation, access rules): SQLite only.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
