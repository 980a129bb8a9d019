"""The Webhooks page: admins only, the secret shown once, refusals next to the field,
receivers' answers shown as text, re-sending with CSRF; and what it looks like in Chromium."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from model_service.app import create_app
from model_service.dashboard.users import create_user
from shared.db.session import session_scope
from shared.outbox import enqueue
from shared.webhooks.delivery import deliver_due
from shared.webhooks.endpoints import create_endpoint
from tests.conftest import make_settings
from tests.dashboard.conftest import (
    HOSTILE_COMMENT,
    PASSWORD,
    Dashboard,
    csrf_token,
    screenshot,
    sign_in,
)
from tests.ports import free_port

ADMIN = "admin@shop.example"
PAGE = "/dashboard/webhooks"


@pytest.fixture
def admin_dashboard(dashboard: Dashboard, tmp_path: Path) -> Dashboard:
    create_user(dashboard.database_url, ADMIN, "admin", PASSWORD)
    return dashboard


def _settings(dashboard: Dashboard, tmp_path: Path):
    return make_settings(tmp_path, dashboard.database_url, webhooks_allow_private=True)


def _failed_delivery(dashboard: Dashboard, tmp_path: Path) -> None:
    """One delivery to a port nobody listens on: waiting, with an error."""
    settings = _settings(dashboard, tmp_path)
    create_endpoint(
        settings,
        url=f"http://127.0.0.1:{free_port()}/hook",
        events=["response.detractor"],
        created_by=ADMIN,
    )
    with session_scope(dashboard.database_url) as session:
        enqueue(session, "response.detractor", {"response_id": "r-1", "nps": 1})
    deliver_due(settings, now=datetime(2026, 12, 1, tzinfo=UTC), timeout=2)


def test_support_agents_neither_see_nor_open_it(admin_dashboard: Dashboard) -> None:
    agent = admin_dashboard.signed_in()
    assert PAGE not in agent.get("/dashboard/").text
    assert agent.get(PAGE).status_code == 403
    assert agent.post(PAGE, data={}).status_code in (400, 403)
    admin = admin_dashboard.signed_in(ADMIN)
    assert f'href="{PAGE}"' in admin.get("/dashboard/models").text


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(admin_dashboard, tmp_path) -> None:
    admin_dashboard.app.extensions["kundresa"].settings = _settings(admin_dashboard, tmp_path)
    admin = admin_dashboard.signed_in(ADMIN)
    form = {
        "csrf_token": csrf_token(admin, PAGE),
        "url": "http://127.0.0.1:9/hooks",
        "events": ["response.detractor", "customer.risk_high"],
        "description": "Helpdesk",
        "active": "y",
    }
    added = admin.post(PAGE, data=form)
    assert added.status_code == 201
    secret = re.search(r'<code class="secret">(whsec_[^<]+)</code>', added.text).group(1)
    again = admin.get(PAGE).text
    assert secret not in again and secret[:10] + "…" in again
    assert "http://127.0.0.1:9/hooks" in again and "Helpdesk" in again


@pytest.mark.parametrize(
    ("url", "events", "message"),
    [
        ("ftp://example.com/x", ["model.promoted"], "Use an http or https URL."),
        ("http://127.0.0.1/x", ["model.promoted"], "private, loopback or link-local"),
        ("https://example.com/x", [], "This field is required."),
        ("https://example.com/x", ["customer.deleted"], "is not a valid choice"),
    ],
)
def test_refusals_are_shown_by_the_field(admin_dashboard, url, events, message) -> None:
    admin = admin_dashboard.signed_in(ADMIN)
    form = {"csrf_token": csrf_token(admin, PAGE), "url": url, "events": events}
    refused = admin.post(PAGE, data=form)
    assert refused.status_code == 422
    assert re.search(r'<p class="field-error">[^<]*' + re.escape(message), refused.text)


def test_answers_are_shown_as_text_and_a_delivery_can_be_sent_again(
    admin_dashboard, tmp_path
) -> None:
    _failed_delivery(admin_dashboard, tmp_path)
    from shared.db.tables import WebhookDelivery

    with session_scope(admin_dashboard.database_url) as session:
        session.query(WebhookDelivery).update({"response_excerpt": HOSTILE_COMMENT})
    admin = admin_dashboard.signed_in(ADMIN)
    page = admin.get(PAGE).text
    assert HOSTILE_COMMENT not in page
    assert "&lt;script&gt;alert(" in page
    assert "ConnectionRefusedError" in page
    resend = "/dashboard/webhooks/deliveries/1/resend"
    assert admin.post(resend, data={}).status_code == 400  # no CSRF token
    sent = admin.post(resend, data={"csrf_token": csrf_token(admin, PAGE)})
    assert sent.status_code == 302
    assert "Delivery 1 will be sent again." in admin.get(PAGE).text
    missing = admin.post(
        "/dashboard/webhooks/deliveries/99999999999/resend",
        data={"csrf_token": csrf_token(admin, PAGE)},
    )
    assert missing.status_code == 404


def test_an_endpoint_is_turned_off_and_deleted(admin_dashboard, tmp_path) -> None:
    _failed_delivery(admin_dashboard, tmp_path)
    admin = admin_dashboard.signed_in(ADMIN)
    path = "/dashboard/webhooks/endpoints/1"
    off = admin.post(path, data={"csrf_token": csrf_token(admin, PAGE), "action": "deactivate"})
    assert off.status_code == 302
    assert "Endpoint turned off." in admin.get(PAGE).text
    bad = admin.post(path, data={"csrf_token": csrf_token(admin, PAGE), "action": "explode"})
    assert bad.status_code == 400
    gone = admin.post(path, data={"csrf_token": csrf_token(admin, PAGE), "action": "delete"})
    assert gone.status_code == 302
    assert "No endpoints yet" in admin.get(PAGE).text


@pytest.mark.browser
def test_the_webhooks_page_in_chromium(chromium, sqlite_url, tmp_path, empty_mlflow) -> None:
    from werkzeug.serving import make_server

    settings = make_settings(
        tmp_path, sqlite_url, mlflow_tracking_uri=empty_mlflow, webhooks_allow_private=True
    )
    create_user(sqlite_url, ADMIN, "admin", PASSWORD)
    dashboard = Dashboard(create_app(settings, start_polling=False), sqlite_url)
    _failed_delivery(dashboard, tmp_path)
    with session_scope(sqlite_url) as session:
        enqueue(session, "model.promoted", {"task": "t", "version": "3"})
    app = dashboard.app
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    try:
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        base = f"http://127.0.0.1:{server.server_port}"
        tab.goto(base + PAGE)
        tab.fill("#email", ADMIN)
        tab.fill("#password", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_load_state()
        assert tab.url.endswith(PAGE)
        tab.fill("#url", "http://127.0.0.1:9/hooks/crm")
        tab.check("input[value='customer.risk_high']")
        tab.check("input[value='cart.risk_high']")
        tab.fill("#description", "CRM <b>sync</b>")
        tab.click("text=Add endpoint")
        tab.wait_for_load_state()
        assert tab.locator("code.secret").inner_text().startswith("whsec_")
        assert tab.locator("#webhook-endpoints tbody tr").count() == 2
        assert tab.locator("#webhook-deliveries tbody tr").count() == 1
        screenshot(tab, "webhooks")
        tab.click("#webhook-deliveries >> text=Send again")
        tab.wait_for_load_state()
        assert "will be sent again" in tab.locator(".flash").inner_text()
    finally:
        context.close()
        server.shutdown()


def test_the_page_speaks_the_admins_language(dashboard: Dashboard) -> None:
    # The dashboard offers en and sv so far; da and nb entries are in their catalogues too.
    create_user(dashboard.database_url, "admin-sv@shop.example", "admin", PASSWORD, locale="sv")
    client = dashboard.client()
    assert sign_in(client, "admin-sv@shop.example", PASSWORD).status_code == 302
    page = client.get(PAGE).text
    assert "Senaste leveranser" in page and "Inga mottagare ännu" in page
