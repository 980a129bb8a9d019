"""The survey editor, the survey performance page and the sites' fatigue limits over HTTP (the
Flask test client, CSRF on), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import insert, select

from model_service.dashboard.users import create_user
from shared.db.session import session_scope
from shared.db.tables import Response, Site, Survey, SurveyImpression
from tests.dashboard.conftest import PASSWORD, Dashboard, csrf_token
from tests.dashboard.test_pages import assert_well_formed

ADMIN = "admin@shop.example"
NEW = "/dashboard/surveys/new"
# A survey as the editor's form posts it: two questions, English and Swedish texts.
FORM = {
    "key": "winter",
    "name": "Winter survey",
    "kind": "custom",
    "sampling_rate": "0.5",
    "cooldown_days": "20",
    "priority": "",
    "trigger.event": "purchase",
    "trigger.min_purchases": "1",
    "trigger.stage": "",
    "trigger.page_url": "",
    "trigger.days_since_last_order.min": "",
    "trigger.days_since_last_order.max": "",
    "questions.0.id": "nps",
    "questions.0.type": "nps",
    "questions.0.required": "true",
    "questions.1.id": "why",
    "questions.1.type": "single_choice",
    "questions.1.options": "price, speed",
    "questions.2.id": "",
    "questions.2.type": "text",
    "texts.en.title": "How was winter?",
    "texts.en.q0.label": "Would you recommend us?",
    "texts.en.q1.label": "Why?",
    "texts.en.q1.options": "price = The price\nspeed = The speed",
    "texts.sv.title": "Hur var vintern?",
    "texts.sv.q0.label": "Skulle du rekommendera oss?",
}


def _admin(dashboard: Dashboard) -> FlaskClient:
    create_user(dashboard.database_url, ADMIN, "admin", PASSWORD)
    return dashboard.signed_in(ADMIN)


def _post(client: FlaskClient, path: str, form: dict, page: str | None = None):
    token = csrf_token(client, page or path)
    return client.post(path, data={"csrf_token": token, **form})


def _survey(database_url: str, key: str) -> Survey:
    with session_scope(database_url) as session:
        row = session.scalars(select(Survey).where(Survey.key == key)).one()
        session.expunge(row)
        return row


def test_an_admin_creates_edits_publishes_pauses_and_archives_a_survey(
    dashboard_on_each_db: Dashboard,
):
    dashboard = dashboard_on_each_db
    client = _admin(dashboard)
    listing = client.get("/dashboard/surveys")
    assert listing.status_code == 200 and "post_purchase" in listing.text
    assert_well_formed(listing.text)

    created = _post(client, NEW, FORM)
    assert created.status_code == 302, created.text
    row = _survey(dashboard.database_url, "winter")
    assert (row.active, row.published_at, row.archived_at) == (False, None, None)  # a draft
    assert row.trigger == {"event": "purchase", "min_purchases": 1}
    assert row.sampling_rate == 0.5 and row.cooldown_days == 20
    assert row.questions[1] == {
        "id": "why",
        "type": "single_choice",
        "required": False,
        "options": ["price", "speed"],
    }
    assert row.texts["sv"] == {
        "title": "Hur var vintern?",
        "questions": {"nps": {"label": "Skulle du rekommendera oss?"}},
    }
    assert set(row.texts) == {"en", "sv"}

    edit = "/dashboard/surveys/winter/edit"
    page = client.get(edit)
    assert page.status_code == 200
    assert_well_formed(page.text)
    # Danish has no texts: every field shows the English one and says it falls back.
    assert 'placeholder="How was winter?"' in page.text
    assert "falls back to English" in page.text

    changed = _post(
        client, edit, {**FORM, "texts.da.title": "Hvordan var vinteren?", "cooldown_days": "45"}
    )
    assert changed.status_code == 302, changed.text
    row = _survey(dashboard.database_url, "winter")
    assert row.cooldown_days == 45 and row.texts["da"]["title"] == "Hvordan var vinteren?"

    status = "/dashboard/surveys/winter/status"
    for action, expected in (
        ("publish", (True, False)),
        ("pause", (False, False)),
        ("archive", (False, True)),
    ):
        answer = _post(client, status, {"action": action}, page=edit)
        assert answer.status_code == 302, answer.text
        row = _survey(dashboard.database_url, "winter")
        assert (row.active, row.archived_at is not None) == expected
    assert row.published_at is not None
    # Archived: hidden from the list, kept in the table, listed again on request.
    assert "/dashboard/surveys/winter/edit" not in client.get("/dashboard/surveys").text
    assert "/dashboard/surveys/winter/edit" in client.get("/dashboard/surveys?archived=1").text


def test_a_bad_trigger_and_an_over_long_text_name_their_fields(dashboard_on_each_db: Dashboard):
    client = _admin(dashboard_on_each_db)
    bad = {
        **FORM,
        "trigger.min_purchases": "-3",
        "texts.sv.q0.label": "å" * 501,
        "trigger.days_since_last_order.min": "9",
        "trigger.days_since_last_order.max": "2",
    }
    answer = _post(client, NEW, bad)
    assert answer.status_code == 422
    html = answer.text
    assert_well_formed(html)

    def error_of(name: str) -> str:
        field = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>\s*(.*?)</label>', html, re.S)
        assert field, name
        assert 'aria-invalid="true"' in field.group(0)
        return field.group(1)

    assert "greater than or equal to 0" in error_of("trigger.min_purchases")
    assert "between 1 and 500" in error_of("texts.sv.q0.label")
    assert "min must not exceed max" in error_of("trigger.days_since_last_order.min")
    # What was typed is kept, and nothing was saved.
    assert 'value="-3"' in html
    with session_scope(dashboard_on_each_db.database_url) as session:
        assert session.scalar(select(Survey.id).where(Survey.key == "winter")) is None


def test_the_editor_needs_csrf_and_the_admin_role(dashboard_on_each_db: Dashboard):
    dashboard = dashboard_on_each_db
    support = dashboard.signed_in()
    for path in (
        "/dashboard/surveys",
        NEW,
        "/dashboard/surveys/post_purchase/edit",
        "/dashboard/surveys/post_purchase/preview",
    ):
        assert support.get(path).status_code == 403, path
    assert support.post(
        "/dashboard/surveys/post_purchase/status", data={"action": "archive"}
    ).status_code in (400, 403)
    assert '/dashboard/surveys"' not in support.get("/dashboard/").text  # no menu entry
    assert support.get("/dashboard/survey-performance").status_code == 200

    admin = _admin(dashboard)
    assert admin.post(NEW, data=FORM).status_code == 400
    assert (
        admin.post(
            "/dashboard/surveys/post_purchase/status", data={"action": "archive"}
        ).status_code
        == 400
    )
    assert _survey(dashboard.database_url, "post_purchase").archived_at is None
    assert admin.get("/dashboard/surveys/nope/edit").status_code == 404
    assert admin.get("/dashboard/surveys/%00/edit").status_code in (400, 404)
    assert 'href="/dashboard/surveys"' in admin.get("/dashboard/").text


def test_the_preview_draws_the_draft_with_the_widget_in_the_chosen_language(
    dashboard_on_each_db: Dashboard,
):
    client = _admin(dashboard_on_each_db)
    page = _post(client, NEW, {**FORM, "do": "preview", "preview_locale": "sv"})
    assert page.status_code == 200, page.text
    assert '<html lang="sv">' in page.text
    assert "/dashboard/surveys/widget.js" in page.text
    assert "'unsafe-inline'" in page.headers["Content-Security-Policy"]
    inline = re.search(
        r'<script type="application/json" id="kundresa-preview">(.*?)</script>', page.text, re.S
    )
    localized = json.loads(inline.group(1))
    assert localized["sv"]["title"] == "Hur var vintern?"
    assert localized["sv"]["questions"][1]["label"] == "Why?"  # falls back to English
    assert localized["da"]["locale"] == "en"
    # Previewing saves nothing; the widget script is the survey service's built one.
    with session_scope(dashboard_on_each_db.database_url) as session:
        assert session.scalar(select(Survey.id).where(Survey.key == "winter")) is None
    script = client.get("/dashboard/surveys/widget.js")
    assert script.status_code == 200 and script.data.startswith(b"/*! Kundresa survey widget")
    # Another language re-posts the draft, which is checked again.
    draft = re.search(r'name="definition" value="([^"]*)"', page.text).group(1)
    import html as html_lib

    again = _post(
        client,
        "/dashboard/surveys/preview",
        {"definition": html_lib.unescape(draft), "locale": "da", "back": "/dashboard/surveys/new"},
        page="/dashboard/surveys",
    )
    assert again.status_code == 200 and '<html lang="da">' in again.text
    forged = _post(
        client,
        "/dashboard/surveys/preview",
        {"definition": json.dumps({"key": "x", "trigger": {"colour": 1}})},
        page="/dashboard/surveys",
    )
    assert forged.status_code == 400


def test_site_fatigue_limits_are_set_in_the_editor(dashboard_on_each_db: Dashboard):
    from shared.auth import create_site

    dashboard = dashboard_on_each_db
    create_site(dashboard.database_url, "Shop", ["https://shop.example"])
    client = _admin(dashboard)
    listing = client.get("/dashboard/surveys")
    assert 'name="global_cooldown_shown_days" value="14"' in listing.text
    saved = _post(
        client,
        "/dashboard/sites/Shop/fatigue",
        {
            "global_cooldown_shown_days": "7",
            "global_cooldown_answered_days": "0",
            "max_surveys_per_period": "2",
            "period_days": "60",
        },
        page="/dashboard/surveys",
    )
    assert saved.status_code == 302
    refused = _post(
        client, "/dashboard/sites/Shop/fatigue", {"period_days": "-1"}, page="/dashboard/surveys"
    )
    assert refused.status_code == 302
    assert "Period (days)" in client.get("/dashboard/surveys").text  # the flash names it
    with session_scope(dashboard.database_url) as session:
        site = session.scalars(select(Site).where(Site.name == "Shop")).one()
        assert (
            site.global_cooldown_shown_days,
            site.global_cooldown_answered_days,
            site.max_surveys_per_period,
            site.period_days,
        ) == (7, 0, 2, 60)


def test_performance_page_counts_shown_started_and_answered(dashboard_on_each_db: Dashboard):
    dashboard = dashboard_on_each_db
    now = datetime.now(UTC)
    with session_scope(dashboard.database_url) as session:
        survey_id = session.scalar(select(Survey.id).where(Survey.key == "post_purchase"))
        offers = [
            # (visitor, days ago, stage, device, started)
            ("v1", 20, "purchase", "mobile", True),
            ("v2", 20, "purchase", "desktop", True),
            ("v3", 13, "purchase", "desktop", False),
            ("v4", 6, None, None, False),
        ]
        session.execute(
            insert(SurveyImpression),
            [
                {
                    "survey_key": "post_purchase",
                    "visitor_id": v,
                    "stage": stage,
                    "device": device,
                    "shown_at": now - timedelta(days=days),
                    "started_at": now - timedelta(days=days) + timedelta(seconds=5)
                    if started
                    else None,
                }
                for v, days, stage, device, started in offers
            ],
        )
        # v1 answered its offer; v3's answer came before its offer (another, older one).
        session.execute(
            insert(Response),
            [
                {
                    "response_id": f"r-{v}",
                    "survey_id": survey_id,
                    "survey_key": "post_purchase",
                    "visitor_id": v,
                    "answers": {"nps": 9},
                    "nps": 9,
                    "body_hash": "h" * 64,
                    "submitted_at": at,
                    "received_at": at,
                }
                for v, at in (("v1", now - timedelta(days=19)), ("v3", now - timedelta(days=40)))
            ],
        )
    page = dashboard.signed_in().get("/dashboard/survey-performance")
    assert page.status_code == 200
    assert_well_formed(page.text)
    per_survey = re.search(r"<td>post_purchase</td>(.*?)</tr>", page.text, re.S).group(1)
    numbers = re.findall(r'<td class="num[^"]*">(\d+)', per_survey)
    assert numbers[:3] == ["4", "2", "1"]  # shown, started, answered
    assert "25" in per_survey  # answer rate 1 of 4
    assert "Mobile" in page.text and "not recorded" in page.text
    assert page.text.count("<svg") >= 2
    only = dashboard.signed_in().get("/dashboard/survey-performance?survey=nope&weeks=3")
    assert only.status_code == 200


def test_nonsense_in_the_editor_is_refused_by_field_never_a_500(dashboard: Dashboard):
    client = _admin(dashboard)
    for changes in (
        {"sampling_rate": "nan"},
        {"sampling_rate": "lots", "cooldown_days": "1e9", "priority": "-5"},
        {"key": "Bad Key!", "kind": "spam"},
        {"questions.0.type": "essay", "questions.0.max_length": "x"},
        {"questions.1.options": "Price!, price!"},
        {"questions.1.id": "nps"},  # two questions with one id
        {"texts.en.q1.options": "no equals sign here"},
        {"texts.en.q1.options": "BAD KEY = label"},
        {"texts.en.title": "", "texts.en.q0.label": ""},
        {"trigger.event": "teleport", "trigger.stage": "nirvana", "trigger.page_url": "[z-a]"},
        {"trigger.days_since_last_order.min": "99999"},
        {"questions.19.id": "late", "questions.250.id": "later", "questions.x.id": "odd"},
    ):
        answer = _post(client, NEW, {**FORM, **changes})
        assert answer.status_code == 422, (changes, answer.status_code)
        assert 'class="field-error"' in answer.text or "flash-error" in answer.text
    status = _post(
        client,
        "/dashboard/surveys/post_purchase/status",
        {"action": "explode"},
        page="/dashboard/surveys",
    )
    assert status.status_code == 400
    assert client.get("/dashboard/survey-performance?weeks=x&survey=%ff").status_code == 200
