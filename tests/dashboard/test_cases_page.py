"""The Cases page and who the customer is: my cases, overdue ones, unassigned high-risk
customers; assigning to a colleague and resolving; the customer page showing the imported
name, e-mail, phone and shop link, the resolved state, and a folded journey. Through the test
client (SQLite and PostgreSQL) and in headless Chromium against a live server."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import insert, select

from model_service.app import create_app
from model_service.dashboard.timeline import fold_timeline, span_text
from model_service.dashboard.users import create_user
from shared.db.session import dispose_engines, session_scope
from shared.db.tables import FollowUp, JourneyEvent, OutboxEvent, RiskScore, Site
from tests.conftest import make_settings, make_sqlite_url
from tests.dashboard.conftest import AGENT, PASSWORD, Dashboard, csrf_token, screenshot
from training.customer_import import import_customers

COLLEAGUE = "kim@shop.example"
NOW = datetime.now(UTC)
PEOPLE = """\
id,name,email,phone,tier
q-anna,Anna Berg,anna.berg@example.com,+46 70 111 22 33,gold
q-bo,Bo Ek,bo.ek@example.com,+46 70 444 55 66,silver
q-cy,Cy Dahl,cy.dahl@example.com,,
"""


def _seed(database_url: str, folder: Path) -> None:
    """Three imported customers, high-risk scores, a month of brand touchpoints for Anna."""
    with session_scope(database_url) as session:
        session.add(
            Site(
                name="Shop",
                site_key="sk-cases",
                external_url="https://shop.example/admin/customers/{id}",
            )
        )
    path = folder / "people.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    import_customers(database_url, path)
    with session_scope(database_url) as session:
        base = {
            "task": "brand_switch",
            "stage": "loyalty",
            "segment": "regular",
            "value": 500.0,
            "band": "high",
            "reasons": [],
            "model_name": "kundresa-brand-switch",
            "model_version": "1",
            "as_of": NOW - timedelta(hours=1),
        }
        session.execute(
            insert(RiskScore),
            [
                {**base, "customer_id": "q-anna", "probability": 0.91},
                {**base, "customer_id": "q-bo", "probability": 0.84},
                {**base, "customer_id": "q-cy", "probability": 0.77},
            ],
        )
        start = NOW - timedelta(days=40)
        events = [
            {
                "event_id": f"q-anna-t{i}",
                "customer_id": "q-anna",
                "type": "touchpoint",
                "channel": "social",
                "occurred_at": start + timedelta(hours=18 * i),
            }
            for i in range(37)
        ]
        events.append(
            {
                "event_id": "q-anna-buy",
                "customer_id": "q-anna",
                "type": "purchase",
                "value": 450.0,
                "order_id": "o-1",
                "occurred_at": NOW - timedelta(days=2),
            }
        )
        session.execute(insert(JourneyEvent), events)
    create_user(database_url, AGENT, "support", PASSWORD)
    create_user(database_url, COLLEAGUE, "support", PASSWORD)


def test_timeline_folds_runs_of_plain_events_newest_first() -> None:
    day = datetime(2026, 11, 28, 12, tzinfo=UTC)
    seen = [
        {"kind": "event", "type": "touchpoint", "channel": "social", "at": day - timedelta(days=i)}
        for i in range(28)
    ]
    seen[3] = seen[3] | {"type": "product_view", "channel": "email"}
    buy = {"kind": "event", "type": "purchase", "value": 10.0, "at": day + timedelta(days=1)}
    answer = {"kind": "survey_answer", "type": "post_purchase", "at": day + timedelta(days=2)}
    support = {"kind": "event", "type": "support_contact", "at": day - timedelta(days=30)}
    lines = fold_timeline(
        [answer, buy, *seen, support, support, buy | {"at": day - timedelta(days=40)}]
    )
    assert [line.count for line in lines] == [1, 1, 28, 2, 1]
    browsing = lines[2]
    assert (
        browsing.folded and browsing.newest == day and browsing.oldest == day - timedelta(days=27)
    )
    assert browsing.kinds.most_common() == [("touchpoint", 27), ("product_view", 1)]
    assert browsing.channels == ["social", "email"]
    assert span_text(browsing, "en").replace("\u2009", " ") == "Nov 1 – 28"
    assert span_text(browsing, "sv") == "1–28 nov."
    assert not lines[0].folded and not lines[1].folded


@pytest.fixture
def cases_site(database_url: str, tmp_path: Path, empty_mlflow: str) -> Dashboard:
    _seed(database_url, tmp_path)
    settings = make_settings(tmp_path, database_url, mlflow_tracking_uri=empty_mlflow)
    app = create_app(settings, start_polling=False)
    app.testing = True
    return Dashboard(app, database_url)


def test_assigning_and_resolving_from_the_cases_page(cases_site: Dashboard) -> None:
    client = cases_site.signed_in()
    page = client.get("/dashboard/cases")
    assert page.status_code == 200
    assert "Anna Berg" in page.text and 'href="mailto:anna.berg@example.com"' in page.text
    assert 'href="tel:+46701112233"' in page.text
    assert 'href="https://shop.example/admin/customers/q-anna"' in page.text
    token = csrf_token(client, "/dashboard/cases")
    taken = client.post(
        "/dashboard/cases/assign",
        data={"csrf_token": token, "customer": "q-anna", "task": "brand_switch", "assignee": AGENT},
    )
    assert taken.status_code == 302
    refused = client.post(
        "/dashboard/cases/assign",
        data={"csrf_token": token, "customer": "q-bo", "task": "brand_switch", "assignee": "x@y.z"},
        follow_redirects=True,
    )
    assert "Assign to an active dashboard user" in refused.text
    with session_scope(cases_site.database_url) as session:
        case = session.scalar(select(FollowUp).where(FollowUp.customer_id == "q-anna"))
        case_id = case.id
    client.post(
        "/dashboard/cases/assign",
        data={"csrf_token": token, "follow_up": str(case_id), "assignee": COLLEAGUE},
    )
    client.post("/dashboard/cases/resolve", data={"csrf_token": token, "follow_up": str(case_id)})
    with session_scope(cases_site.database_url) as session:
        case = session.get(FollowUp, case_id)
        assert (case.status, case.assignee) == ("resolved", COLLEAGUE)
        changes = [e.payload["change"] for e in session.scalars(select(OutboxEvent))]
    assert changes == ["taken", "assigned", "moved"]
    customer = client.get("/dashboard/customers/q-anna").text
    assert "Resolved on" in customer and f"by {AGENT}" in customer
    assert 'value="take"' not in customer  # not offered again at the same risk
    assert client.post("/dashboard/cases/resolve", data={"follow_up": "1"}).status_code == 400
    assert (
        client.post(
            "/dashboard/cases/resolve", data={"csrf_token": token, "follow_up": "x"}
        ).status_code
        == 404
    )


def test_contact_data_is_for_signed_in_users_only(cases_site: Dashboard) -> None:
    anonymous = cases_site.client()
    for path in ("/dashboard/cases", "/dashboard/customers/q-anna"):
        answer = anonymous.get(path)
        assert answer.status_code == 302
        assert "Anna Berg" not in answer.text and "anna.berg@" not in answer.text


def test_the_cases_page_in_swedish(cases_site: Dashboard) -> None:
    client = cases_site.signed_in()
    page = client.get("/dashboard/cases", headers={"Accept-Language": "sv"})
    if "Ärenden" not in page.text:  # the user's own setting wins over the browser's
        token = csrf_token(client, "/dashboard/cases")
        client.post(
            "/dashboard/language",
            data={"csrf_token": token, "locale": "sv", "next": "/dashboard/cases"},
        )
        page = client.get("/dashboard/cases")
    assert "Ärenden" in page.text and "Öppna i butiken" in page.text


# --- in Chromium ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_cases(tmp_path_factory: pytest.TempPathFactory, empty_mlflow: str) -> Iterator[str]:
    from werkzeug.serving import make_server

    folder = tmp_path_factory.mktemp("cases-live")
    database_url = make_sqlite_url(folder)
    _seed(database_url, folder)
    settings = make_settings(folder, database_url, mlflow_tracking_uri=empty_mlflow)
    app = create_app(settings, start_polling=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        dispose_engines()


@pytest.mark.browser
def test_support_assigns_resolves_and_sees_the_resolved_customer(chromium, live_cases: str) -> None:
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(live_cases + "/dashboard/")
        page.fill("#email", AGENT)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        page.click("a.tile-link")  # "My open cases" leads to the queue
        page.wait_for_url(re.compile(r"/dashboard/cases$"))
        assert page.locator("h1").inner_text() == "Cases"

        # Take Bo and Cy (assigned to me by default), then hand Bo to a colleague.
        for customer in ("q-bo", "q-cy"):
            page.locator(f"#unassigned tr[data-customer={customer}] button").click()
            page.wait_for_load_state()
        mine = page.locator("#my-cases tr[data-customer]")
        assert sorted(mine.evaluate_all("rows => rows.map(r => r.dataset.customer)")) == [
            "q-bo",
            "q-cy",
        ]
        bo = page.locator("#my-cases tr[data-customer=q-bo]")
        bo.locator("select[name=assignee]").select_option(COLLEAGUE)
        bo.locator("form.assign button").click()
        page.wait_for_load_state()
        expect(page.locator("body")).to_contain_text(f"The case is now {COLLEAGUE}'s.")
        assert page.locator("#my-cases tr[data-customer=q-bo]").count() == 0
        screenshot(page, "cases-01-after-assigning")

        page.locator("#my-cases tr[data-customer=q-cy] button[name=resolve]").click()
        page.wait_for_load_state()
        expect(page.locator("body")).to_contain_text("Case resolved.")
        assert page.locator("#my-cases tr[data-customer]").count() == 0
        assert page.locator("#unassigned tr[data-customer=q-cy]").count() == 0  # not offered again
        screenshot(page, "cases-02-after-resolving")

        page.goto(live_cases + "/dashboard/customers/q-cy")
        assert page.locator("h1").inner_text().startswith("Cy Dahl")
        assert page.locator("a.email").get_attribute("href") == "mailto:cy.dahl@example.com"
        state = page.locator("#case-brand_switch .resolved-state").inner_text()
        assert state.startswith("Resolved on") and f"by {AGENT}" in state and "→ now" in state
        assert page.locator("#case-brand_switch button[value=take]").count() == 0
        screenshot(page, "cases-03-customer-resolved")

        page.goto(live_cases + "/dashboard/customers/q-anna")
        assert page.locator("h1").inner_text().startswith("Anna Berg")
        assert page.locator("a.shop-link").get_attribute("href") == (
            "https://shop.example/admin/customers/q-anna"
        )
        folded = page.locator(".timeline li.folded .t-what").first.inner_text()
        assert "Saw the brand" in folded and "×37" in folded
        columns = page.locator(".customer-columns > div").evaluate_all(
            "cols => cols.map(c => c.getBoundingClientRect().height)"
        )
        assert len(columns) == 2 and min(columns) > 0.25 * max(columns)  # both columns used
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height < 2500
        screenshot(page, "cases-04-customer-folded-timeline")
    finally:
        context.close()
