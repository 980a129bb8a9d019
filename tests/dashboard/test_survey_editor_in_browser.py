"""The survey editor in Chromium: an admin writes a survey in Swedish, previews it (drawn by the
widget itself), publishes it, and the demo shop shows it; the visitor's start and answer reach
the performance page. A support agent cannot open the editor.

Both services run on one SQLite database, each on its own loopback port, as in production
(the dashboard never calls the survey service; they share the database)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from model_service.app import create_app as create_model_app
from model_service.dashboard.users import create_user
from shared.db.session import dispose_engines, session_scope
from shared.db.tables import Response, Survey, SurveyImpression
from survey_service.app import create_app as create_survey_app
from tests.conftest import make_settings, make_sqlite_url
from tests.dashboard.conftest import AGENT, PASSWORD, screenshot

ADMIN = "admin@shop.example"
SWEDISH_TITLE = "Hur var vintern hos oss?"
SWEDISH_LABEL = "Hur troligt är det att du rekommenderar oss till en vän?"


@dataclass(frozen=True)
class Services:
    dashboard: str
    shop: str
    database_url: str


def _serve(app) -> tuple[str, object]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


@pytest.fixture(scope="module")
def services(
    chromium, tmp_path_factory: pytest.TempPathFactory, empty_mlflow: str
) -> Iterator[Services]:
    folder: Path = tmp_path_factory.mktemp("survey-editor")
    database_url = make_sqlite_url(folder)
    create_user(database_url, ADMIN, "admin", PASSWORD)
    create_user(database_url, AGENT, "support", PASSWORD)
    model_app = create_model_app(
        make_settings(folder, database_url, mlflow_tracking_uri=empty_mlflow),
        start_polling=False,
    )
    survey_app = create_survey_app(make_settings(folder, database_url, demo_mode=True))
    dashboard, dashboard_server = _serve(model_app)
    shop, shop_server = _serve(survey_app)
    try:
        yield Services(dashboard, shop, database_url)
    finally:
        for server in (dashboard_server, shop_server):
            server.shutdown()
            server.server_close()
        dispose_engines()


def _signed_in(chromium, base: str, email: str):
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/dashboard/sign-in")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{base}/dashboard/**")
    return context, page


def test_an_admin_writes_previews_and_publishes_a_swedish_survey_that_the_shop_shows(
    chromium, services: Services
):
    context, page = _signed_in(chromium, services.dashboard, ADMIN)
    page.click("nav.mainnav >> text=Surveys")
    page.click("text=New survey")
    page.fill("#f-key", "vinter")
    page.fill("#f-name", "Vinterenkät")
    page.fill("#f-questions-0-id", "nps")
    page.select_option("#f-questions-0-type", "nps")
    page.check("input[name='questions.0.required']")
    # English is the required fallback; the survey itself is written in Swedish.
    page.fill("#f-texts-en-title", "How was your winter with us?")
    page.click("#texts-sv summary")
    page.fill("#f-texts-sv-title", SWEDISH_TITLE)
    page.fill("#f-texts-sv-intro", "Det tar tio sekunder.")
    page.fill("#f-texts-sv-submit", "Skicka")
    page.click("button[value=save]")
    # The question's texts appear once it has an id; the first save says what is missing.
    page.wait_for_selector("#f-texts-en-q0-label")
    page.fill("#f-texts-en-q0-label", "How likely are you to recommend us?")
    page.fill("#f-texts-sv-q0-label", SWEDISH_LABEL)
    page.fill("#f-texts-sv-q0-min_label", "Inte alls troligt")
    page.fill("#f-texts-sv-q0-max_label", "Mycket troligt")
    page.click("button[value=save]")
    page.wait_for_url("**/dashboard/surveys/vinter/edit")
    assert "Saved." in page.inner_text(".flash")
    screenshot(page, "survey_editor")

    page.select_option("select[name=preview_locale]", "sv")
    page.click("button[value=preview]")
    dialog = page.locator("kundresa-survey dialog")
    dialog.wait_for(state="visible")
    assert page.locator("kundresa-survey h2").inner_text() == SWEDISH_TITLE
    assert SWEDISH_LABEL in dialog.inner_text()
    assert "Mycket troligt" in dialog.inner_text()
    screenshot(page, "survey_editor_preview")
    page.keyboard.press("Escape")
    page.click("text=Back to the editor")
    page.click("button[data-action=publish]")
    page.wait_for_selector(".pill.survey-published")
    context.close()

    shop = chromium.new_context(viewport={"width": 1200, "height": 900})
    visitor = shop.new_page()
    visitor.set_default_timeout(15_000)
    visitor.goto(f"{services.shop}/demo/shop?lang=sv")
    visitor.wait_for_function("() => window.Kundresa && window.Kundresa.loaded === true")
    visitor.evaluate("() => window.Kundresa.show('vinter')")
    shown = visitor.locator("kundresa-survey dialog")
    shown.wait_for(state="visible")
    assert visitor.locator("kundresa-survey h2").inner_text() == SWEDISH_TITLE
    screenshot(visitor, "survey_editor_in_demo_shop")
    visitor.locator("kundresa-survey label.pt").nth(9).click()
    visitor.locator("kundresa-survey button.send").click()
    visitor.locator("kundresa-survey .done").wait_for(state="visible")
    shop.close()

    # The offer, its start and its answer are recorded; the performance page counts them.
    def recorded() -> tuple:
        with session_scope(services.database_url) as session:
            offer = session.execute(
                select(SurveyImpression.device, SurveyImpression.started_at).where(
                    SurveyImpression.survey_key == "vinter"
                )
            ).one_or_none()
            answers = session.scalar(select(Response.nps).where(Response.survey_key == "vinter"))
            return offer, answers

    context, page = _signed_in(chromium, services.dashboard, ADMIN)
    for _ in range(50):
        offer, answer = recorded()
        if offer is not None and offer.started_at is not None and answer is not None:
            break
        page.wait_for_timeout(100)
    assert offer.device == "desktop" and offer.started_at is not None and answer == 9
    page.goto(f"{services.dashboard}/dashboard/survey-performance?survey=vinter")
    row = page.locator("table.funnel-table tr:has-text('vinter')").first
    cells = [text.split()[0] for text in row.locator("td.num").all_inner_texts()]
    assert cells[:3] == ["1", "1", "1"]  # shown, started, answered
    screenshot(page, "survey_performance")
    # The list, in Swedish: the survey is published and its languages are shown.
    with page.expect_navigation():
        page.select_option("#locale", "sv")
    page.goto(f"{services.dashboard}/dashboard/surveys")
    assert "Publicerad" in page.locator("tr:has-text('vinter')").inner_text()
    screenshot(page, "survey_list_sv")
    context.close()
    with session_scope(services.database_url) as session:
        assert session.scalar(select(Survey.active).where(Survey.key == "vinter")) is True


def test_a_support_agent_cannot_open_the_editor(chromium, services: Services):
    context, page = _signed_in(chromium, services.dashboard, AGENT)
    # Their "Surveys" menu entry is the performance page, not the editor.
    entry = page.locator("nav.mainnav a", has_text="Surveys")
    assert entry.get_attribute("href") == "/dashboard/survey-performance"
    answer = page.goto(f"{services.dashboard}/dashboard/surveys")
    assert answer.status == 403
    screenshot(page, "survey_editor_refused_to_support")
    context.close()
