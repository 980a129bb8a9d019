"""Fixtures of the dashboard tests.

Unit tests build the model-service app with the factory against the parametrised database
(SQLite, then PostgreSQL when configured) and drive it with the Flask test client, CSRF on.
Browser tests share one expensive session: synthetic journeys, both models trained and
promoted in a real MLflow store by the training code, every customer and cart scored, and the
app served on a free loopback port to headless Chromium.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from model_service.app import create_app
from model_service.dashboard import users
from model_service.dashboard.users import create_user
from shared.db.session import dispose_engines, session_scope
from shared.db.tables import Customer, JourneyEvent, Response, RiskScore, Survey
from tests.conftest import IN_CI, make_settings, make_sqlite_url

CHROMIUM = "/usr/bin/chromium"
AGENT = "agent@shop.example"
PASSWORD = "correct horse battery"
HOSTILE_COMMENT = "<script>alert('xss')</script><img src=x onerror=alert(1)>"
HOSTILE_SEGMENT = "<b onmouseover=alert(2)>vip</b>"
NOW = datetime(2026, 10, 1, tzinfo=UTC)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scrypt costs a noticeable fraction of a second per hash; the rules under test do not
    depend on the method (it travels inside each hash)."""
    monkeypatch.setattr(users, "PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture(scope="session")
def empty_mlflow(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An MLflow store without models, made once (creating a store takes seconds)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).search_registered_models()
    return uri


@dataclass
class Dashboard:
    app: Flask
    database_url: str

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def signed_in(self, email: str = AGENT, password: str = PASSWORD) -> FlaskClient:
        client = self.client()
        response = sign_in(client, email, password)
        assert response.status_code == 302, response.text
        return client


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the first form on ``path``, as a browser would submit it."""
    page = client.get(path)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: FlaskClient, email: str, password: str):
    token = csrf_token(client, "/dashboard/sign-in")
    return client.post(
        "/dashboard/sign-in", data={"csrf_token": token, "email": email, "password": password}
    )


def _dashboard(database_url: str, tmp_path: Path, mlflow_uri: str) -> Dashboard:
    settings = make_settings(
        tmp_path, database_url, mlflow_tracking_uri=mlflow_uri, max_failed_logins=3
    )
    create_user(database_url, AGENT, "support", PASSWORD)
    app = create_app(settings, start_polling=False)
    app.testing = True
    return Dashboard(app, database_url)


@pytest.fixture
def dashboard(sqlite_url: str, tmp_path: Path, empty_mlflow: str) -> Dashboard:
    """The model-service app with one support agent on SQLite, for tests of the web layer."""
    return _dashboard(sqlite_url, tmp_path, empty_mlflow)


@pytest.fixture
def dashboard_on_each_db(database_url: str, tmp_path: Path, empty_mlflow: str) -> Dashboard:
    """The same on SQLite and then PostgreSQL, for tests whose queries differ by database."""
    return _dashboard(database_url, tmp_path, empty_mlflow)


def seed_scored_customers(database_url: str) -> None:
    """Three customers with journeys, answers and scores; c-risky said something hostile."""
    with session_scope(database_url) as session:
        survey_id = session.query(Survey.id).filter(Survey.key == "post_purchase").scalar()
        session.execute(
            insert(Customer),
            [
                {"id": "c-risky", "segment": HOSTILE_SEGMENT, "locale": "sv", "consent": True},
                {"id": "c-calm", "segment": "regular", "locale": "en", "consent": True},
                {"id": "c-cart", "segment": "regular", "locale": "en", "consent": False},
            ],
        )
        events = []
        for customer, types in {
            "c-risky": ["touchpoint", "product_view", "add_to_cart", "purchase", "page_view"],
            "c-calm": ["touchpoint", "product_view", "add_to_cart", "purchase", "review"],
            "c-cart": ["touchpoint", "add_to_cart"],
        }.items():
            for i, event_type in enumerate(types):
                events.append(
                    {
                        "event_id": f"{customer}-e{i}",
                        "customer_id": customer,
                        "type": event_type,
                        "channel": "email",
                        "product_category": "electronics",
                        "value": 250.0 if event_type == "purchase" else None,
                        "cart_id": f"{customer}-cart" if event_type == "add_to_cart" else None,
                        "occurred_at": NOW - timedelta(days=30 - 5 * i),
                    }
                )
        session.execute(insert(JourneyEvent), events)
        session.execute(
            insert(Response),
            [
                {
                    "response_id": "r-hostile",
                    "survey_id": survey_id,
                    "survey_key": "post_purchase",
                    "customer_id": "c-risky",
                    "stage": "purchase",
                    "answers": {"nps": 2, "csat": 1, "comment": HOSTILE_COMMENT},
                    "nps": 2,
                    "csat": 1,
                    "ces": 2,
                    "comment": HOSTILE_COMMENT,
                    "body_hash": "x" * 64,
                    "submitted_at": NOW - timedelta(days=10),
                },
                {
                    "response_id": "r-happy",
                    "survey_id": survey_id,
                    "survey_key": "post_purchase",
                    "customer_id": "c-calm",
                    "stage": "purchase",
                    "answers": {"nps": 10, "csat": 5},
                    "nps": 10,
                    "csat": 5,
                    "ces": 7,
                    "comment": "Fast delivery, thanks!",
                    "body_hash": "y" * 64,
                    "submitted_at": NOW - timedelta(days=9),
                },
            ],
        )
        base = {
            "model_name": "kundresa-brand-switch",
            "model_version": "3",
            "product_category": "electronics",
            "stage": "loyalty",
        }
        session.execute(
            insert(RiskScore),
            [
                {
                    **base,
                    "task": "brand_switch",
                    "customer_id": "c-risky",
                    "segment": HOSTILE_SEGMENT,
                    "value": 900.0,
                    "probability": 0.55,
                    "band": "medium",
                    "reasons": [],
                    "as_of": NOW - timedelta(days=7),
                },
                {
                    **base,
                    "task": "brand_switch",
                    "customer_id": "c-risky",
                    "segment": HOSTILE_SEGMENT,
                    "value": 900.0,
                    "probability": 0.82,
                    "band": "high",
                    "reasons": [
                        {
                            "feature": "recency_days",
                            "value": 140.0,
                            "reference": 35.0,
                            "contribution": 0.21,
                        },
                        {"feature": "csat_last", "value": 1, "reference": 4, "contribution": 0.1},
                    ],
                    "as_of": NOW,
                },
                {
                    **base,
                    "task": "brand_switch",
                    "customer_id": "c-calm",
                    "segment": "regular",
                    "value": 300.0,
                    "probability": 0.08,
                    "band": "low",
                    "reasons": [],
                    "as_of": NOW,
                },
                {
                    **base,
                    "task": "cart_abandonment",
                    "model_name": "kundresa-cart-abandonment",
                    "customer_id": "c-cart",
                    "cart_id": "c-cart-cart",
                    "segment": "regular",
                    "stage": "desire",
                    "value": 120.0,
                    "probability": 0.71,
                    "band": "high",
                    "reasons": [
                        {
                            "feature": "minutes_idle",
                            "value": 95.0,
                            "reference": 12.0,
                            "contribution": 0.3,
                        },
                    ],
                    "as_of": NOW,
                },
            ],
        )


# --- browser session ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveSite:
    base_url: str
    database_url: str


def _chromium_or_skip() -> None:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        message = f"browser tests need Debian's chromium at {CHROMIUM}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """Synthetic journeys, trained and promoted champions, batch scores, one agent, and the
    model service on a free 127.0.0.1 port (werkzeug in a thread)."""
    _chromium_or_skip()
    from werkzeug.serving import make_server

    from model_service.scoring import score_all
    from training.promotion import promote
    from training.synth import generate
    from training.train import train_task

    folder = tmp_path_factory.mktemp("dashboard-live")
    database_url = make_sqlite_url(folder)
    mlflow_uri = f"sqlite:///{folder / 'mlflow.db'}"
    artifact_root = (folder / "mlartifacts").as_uri()
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_ARTIFACT_ROOT")}
    os.environ["MLFLOW_TRACKING_URI"] = mlflow_uri
    os.environ["MLFLOW_ARTIFACT_ROOT"] = artifact_root
    server = None
    try:
        generate(database_url, customers=200, days=270, seed=23, end=NOW, progress=False)
        for task in ("brand_switch", "cart_abandonment"):
            _name, version = train_task(database_url, task, progress=False)
            promote(task, version=version, force=True, reason="the dashboard tests need one")
        settings = make_settings(
            folder,
            database_url,
            mlflow_tracking_uri=mlflow_uri,
            mlflow_artifact_root=artifact_root,
        )
        # Two scorings two weeks apart, so that a customer page has a risk history to draw.
        score_all(settings, "brand_switch", as_of=NOW - timedelta(days=14), progress=False)
        for task in ("brand_switch", "cart_abandonment"):
            score_all(settings, task, as_of=NOW, progress=False)
        _add_hostile_answer(database_url)
        create_user(database_url, AGENT, "support", PASSWORD)
        app = create_app(settings, start_polling=False)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield LiveSite(f"http://127.0.0.1:{server.server_port}", database_url)
    finally:
        if server is not None:
            server.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        dispose_engines()


def _add_hostile_answer(database_url: str) -> None:
    """The customer first in the at-risk list (largest expected value at risk) answers with a
    hostile comment: it must show as text."""
    from sqlalchemy import func, select

    with session_scope(database_url) as session:
        customer = session.scalar(
            select(RiskScore.customer_id)
            .where(RiskScore.task == "brand_switch")
            .order_by((RiskScore.probability * func.coalesce(RiskScore.value, 0.0)).desc())
            .limit(1)
        )
        survey_id = session.scalar(select(Survey.id).where(Survey.key == "relationship_nps"))
        session.add(
            Response(
                response_id="r-hostile-live",
                survey_id=survey_id,
                survey_key="relationship_nps",
                customer_id=customer,
                stage="loyalty",
                answers={"nps": 1, "comment": HOSTILE_COMMENT},
                nps=1,
                comment=HOSTILE_COMMENT,
                body_hash="z" * 64,
                submitted_at=NOW + timedelta(hours=1),
            )
        )


@pytest.fixture(scope="session")
def browser(chromium, live_site: LiveSite):
    return chromium


@pytest.fixture
def page(browser, live_site: LiveSite):
    """A fresh signed-out browser context (its own cookies) for one test."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def screenshot(tab, name: str) -> None:
    """Keep what the page looked like, for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
