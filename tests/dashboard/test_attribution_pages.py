"""The attribution page and the journey map's split by channel (issue 17): through the test
client, and in Chromium on synthetic journeys (no models needed), with screenshots."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from model_service.app import create_app
from model_service.dashboard.users import create_user
from shared.db.session import dispose_engines
from tests.conftest import make_settings, make_sqlite_url
from tests.dashboard.conftest import AGENT, PASSWORD, Dashboard, screenshot, seed_scored_customers

END = datetime(2026, 6, 1, tzinfo=UTC)


def test_attribution_page_and_channel_split_render(dashboard: Dashboard) -> None:
    seed_scored_customers(dashboard.database_url)
    client = dashboard.signed_in()
    page = client.get("/dashboard/attribution?period=90d")
    assert page.status_code == 200
    assert 'href="/dashboard/attribution"' in page.text  # in the menu
    assert "Markov (data-driven)" in page.text and "E-mail" in page.text
    # Two purchases: far too few for an interval, and the page says so.
    assert 'id="no-interval"' in page.text
    # Unknown filter values are ignored, not errors.
    assert client.get("/dashboard/attribution?kind=x&period=1y&segment=nope").status_code == 200
    plain = client.get("/dashboard/journey-map")
    assert "channel-split-toggle" in plain.text and "Which channels bring" not in plain.text
    split = client.get("/dashboard/journey-map?channels=1&period=90d")
    assert split.status_code == 200 and "Which channels bring" in split.text


def test_readiness_on_the_customer_page_and_the_at_risk_list(dashboard: Dashboard) -> None:
    seed_scored_customers(dashboard.database_url)
    client = dashboard.signed_in()
    # c-calm bought and then wrote a review: loyalty, the last step.
    customer = client.get("/dashboard/customers/c-calm")
    assert "Purchase readiness" in customer.text and "110 % · Loyalty" in customer.text
    listed = client.get("/dashboard/")
    assert listed.status_code == 200 and "Readiness 110 %" in listed.text


def test_attribution_page_in_swedish(dashboard: Dashboard) -> None:
    seed_scored_customers(dashboard.database_url)
    client = dashboard.signed_in()
    page = client.get("/dashboard/attribution", headers={"Accept-Language": "sv"})
    assert "Attribuering" in page.text and "Kanaler per steg" in page.text


@pytest.fixture(scope="module")
def synthetic_site(tmp_path_factory: pytest.TempPathFactory, chromium) -> Iterator[str]:
    """Synthetic journeys (no models: neither page needs one) served on a loopback port."""
    from werkzeug.serving import make_server

    from training.synth import generate

    folder = tmp_path_factory.mktemp("attribution-live")
    database_url = make_sqlite_url(folder)
    generate(database_url, customers=300, days=150, seed=17, end=END, progress=False)
    create_user(database_url, AGENT, "support", PASSWORD)
    settings = make_settings(
        folder, database_url, mlflow_tracking_uri=f"sqlite:///{folder / 'mlflow.db'}"
    )
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
def test_attribution_and_channel_split_in_chromium(chromium, synthetic_site: str) -> None:
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    tab = context.new_page()
    # Generous: the machine running the suite may be busy (the page itself takes well under 1 s).
    tab.set_default_timeout(60_000)
    try:
        tab.goto(synthetic_site + "/dashboard/attribution")
        tab.fill("#email", AGENT)
        tab.fill("#password", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_load_state()
        tab.select_option("select[name=period]", "90d")
        tab.wait_for_url("**period=90d**")
        assert tab.locator("#attribution-table tbody tr").count() >= 5
        assert tab.locator("svg .whisker").count() >= 5  # Markov intervals drawn
        assert tab.locator("#stage-channels tbody tr").count() >= 6
        screenshot(tab, "20-attribution")
        tab.goto(synthetic_site + "/dashboard/journey-map")
        tab.click("#channel-split-toggle")
        tab.wait_for_url("**channels=1**")
        assert tab.locator("#channel-split svg .bar").count() >= 6
        screenshot(tab, "21-journey-map-channels")
        tab.goto(synthetic_site + "/dashboard/customers/s17-c0000003")
        assert "%" in tab.locator(".fact", has_text="Purchase readiness").inner_text()
        screenshot(tab, "22-customer-readiness")
    finally:
        context.close()
