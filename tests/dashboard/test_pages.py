"""The dashboard pages over a small scored database, with the Flask test client."""

from __future__ import annotations

import csv
import io
from collections import Counter
from html.parser import HTMLParser

from sqlalchemy import select

from shared.db.session import session_scope
from shared.db.tables import FollowUp
from tests.dashboard.conftest import (
    HOSTILE_COMMENT,
    HOSTILE_SEGMENT,
    Dashboard,
    csrf_token,
    seed_scored_customers,
)

RAW_MARKUP = ("<script>alert", "<img src=x", "<b onmouseover")
CONTAINERS = {"div", "section", "main", "ol", "ul", "li", "table", "tr", "td", "form", "svg", "a"}


class _TagBalance(HTMLParser):
    """Counts opened minus closed container tags: a stray ``</div>`` breaks the layout."""

    def __init__(self) -> None:
        super().__init__()
        self.depth: Counter[str] = Counter()

    def handle_starttag(self, tag, attrs) -> None:
        if tag in CONTAINERS:
            self.depth[tag] += 1

    def handle_endtag(self, tag) -> None:
        if tag in CONTAINERS:
            self.depth[tag] -= 1
            assert self.depth[tag] >= 0, f"</{tag}> closes nothing"


def assert_well_formed(html: str) -> None:
    parser = _TagBalance()
    parser.feed(html)
    assert not +parser.depth, f"unclosed tags: {dict(+parser.depth)}"


def _assert_escaped(html: str) -> None:
    for raw in RAW_MARKUP:
        assert raw not in html


def test_at_risk_list_shows_reasons_in_words_answer_and_action(dashboard_on_each_db: Dashboard):
    dashboard = dashboard_on_each_db
    seed_scored_customers(dashboard.database_url)
    page = dashboard.signed_in().get("/dashboard/")
    assert page.status_code == 200
    text = page.text
    assert text.index("c-risky") < text.index("c-calm")  # riskiest first
    assert "No purchase for 140 days." in text  # shared.reasons, not "recency_days"
    assert "recency_days" not in text
    assert "Call today and ask what went wrong" in text or "Call and sort out" in text
    assert "NPS 2" in text
    assert "Not taken" in text


def test_hostile_text_is_shown_as_text_on_every_page(dashboard_on_each_db: Dashboard):
    dashboard = dashboard_on_each_db
    seed_scored_customers(dashboard.database_url)
    client = dashboard.signed_in()
    for path in (
        "/dashboard/",
        "/dashboard/carts",
        "/dashboard/customers/c-risky",
        "/dashboard/customers/c-cart",
        "/dashboard/feedback",
        "/dashboard/feedback?q=script",
        "/dashboard/journey-map",
        "/dashboard/critical-journeys",
        "/dashboard/models",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        _assert_escaped(page.text)
        assert_well_formed(page.text)
    customer = client.get("/dashboard/customers/c-risky").text
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in customer
    listing = client.get("/dashboard/").text
    assert "&lt;b onmouseover=alert(2)&gt;vip&lt;/b&gt;" in listing
    assert HOSTILE_COMMENT not in listing and HOSTILE_SEGMENT not in listing


def test_pages_forbid_inline_scripts_and_caching(dashboard: Dashboard):
    page = dashboard.signed_in().get("/dashboard/")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Frame-Options"] == "DENY"


def test_unknown_customer_gives_a_404_page(dashboard: Dashboard):
    page = dashboard.signed_in().get("/dashboard/customers/no-such-customer")
    assert page.status_code == 404
    assert "text/html" in page.headers["Content-Type"]
    assert "Not found" in page.text
    assert dashboard.signed_in().get("/dashboard/nothing/here").status_code == 404


def test_take_contact_and_resolve_a_case_then_see_it_in_the_list(dashboard_on_each_db: Dashboard):
    dashboard = dashboard_on_each_db
    seed_scored_customers(dashboard.database_url)
    client = dashboard.signed_in()
    path = "/dashboard/customers/c-risky"
    steps = [
        ({"action": "take", "note": "Calling after lunch"}, "You have taken this case."),
        ({"action": "contacted", "note": ""}, "Marked as contacted."),
        ({"action": "note", "note": "Offered free delivery"}, "Note added."),
        ({"action": "resolved", "note": "Happy again"}, "Case resolved."),
    ]
    for form, message in steps:
        token = csrf_token(client, path)
        response = client.post(
            f"{path}/follow-up",
            data={"csrf_token": token, "task": "brand_switch", **form},
            follow_redirects=True,
        )
        assert response.status_code == 200
        assert message in response.text
    with session_scope(dashboard.database_url) as session:
        case = session.scalar(select(FollowUp).where(FollowUp.customer_id == "c-risky"))
        assert case.status == "resolved"
        assert case.assignee == "agent@shop.example"
    page = client.get(path).text
    assert "Offered free delivery" in page and "Happy again" in page
    listing = client.get("/dashboard/").text
    row = listing[listing.index('data-customer="c-risky"') :]
    assert "Resolved" in row[: row.index("</tr>")]


def test_a_case_cannot_be_moved_before_it_is_taken(dashboard: Dashboard):
    seed_scored_customers(dashboard.database_url)
    client = dashboard.signed_in()
    token = csrf_token(client, "/dashboard/customers/c-calm")
    response = client.post(
        "/dashboard/customers/c-calm/follow-up",
        data={"csrf_token": token, "action": "resolved"},
        follow_redirects=True,
    )
    assert "Take the case first." in response.text


def test_follow_up_without_csrf_token_is_refused_and_changes_nothing(dashboard: Dashboard):
    seed_scored_customers(dashboard.database_url)
    client = dashboard.signed_in()
    response = client.post(
        "/dashboard/customers/c-risky/follow-up", data={"action": "take", "task": "brand_switch"}
    )
    assert response.status_code == 400
    with session_scope(dashboard.database_url) as session:
        assert session.scalar(select(FollowUp)) is None


def test_follow_up_for_an_unknown_customer_is_a_404(dashboard: Dashboard):
    client = dashboard.signed_in()
    token = csrf_token(client, "/dashboard/")
    response = client.post(
        "/dashboard/customers/nobody/follow-up", data={"csrf_token": token, "action": "take"}
    )
    assert response.status_code == 404


def test_filters_narrow_the_list_and_odd_values_are_ignored(dashboard_on_each_db: Dashboard):
    dashboard = dashboard_on_each_db
    seed_scored_customers(dashboard.database_url)
    client = dashboard.signed_in()
    high = client.get("/dashboard/?band=high").text
    assert "c-risky" in high and "c-calm" not in high
    nobody = client.get("/dashboard/?stage=awareness").text
    assert "Nobody matches these filters" in nobody
    odd = client.get("/dashboard/?stage=%3Cscript%3E&band=x&sort=1;drop&cursor=garbage")
    assert odd.status_code in (200, 302)
    carts = client.get("/dashboard/carts").text
    assert "c-cart" in carts and "c-risky" not in carts


def test_csv_export_streams_every_row_and_defuses_formulas(dashboard_on_each_db: Dashboard):
    dashboard = dashboard_on_each_db
    seed_scored_customers(dashboard.database_url)
    client = dashboard.signed_in()
    response = client.get("/dashboard/export.csv?task=brand_switch&headings=codes")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["customer_id"] for r in rows] == ["c-risky", "c-calm"]
    assert rows[0]["latest_comment"] == HOSTILE_COMMENT
    assert "No purchase for 140 days." in rows[0]["reasons"]
    # For people (the default), headings and coded cells are words in their language.
    danish = client.get(
        "/dashboard/export.csv?task=brand_switch", headers={"Accept-Language": "da"}
    )
    header = next(csv.reader(io.StringIO(danish.get_data(as_text=True))))
    assert header[:3] == ["Kunde", "Indkøbskurv", "Forudsigelse"]
    assert "customer_id" not in header


def test_swedish_interface_from_the_browser_language_or_the_user_choice(dashboard: Dashboard):
    seed_scored_customers(dashboard.database_url)
    client = dashboard.signed_in()
    swedish = client.get("/dashboard/", headers={"Accept-Language": "sv-SE,sv;q=0.9"})
    assert "Vem du ska ringa nu" in swedish.text
    assert "Inget köp på 140 dagar." in swedish.text  # reasons follow the language too
    assert "Inte tagen" in swedish.text
    token = csrf_token(client, "/dashboard/")
    client.post("/dashboard/language", data={"csrf_token": token, "locale": "sv", "next": "/"})
    assert "Vem du ska ringa nu" in client.get("/dashboard/").text
    token = csrf_token(client, "/dashboard/")
    client.post("/dashboard/language", data={"csrf_token": token, "locale": "en"})
    english = client.get("/dashboard/").text
    assert "Who to call now" in english
    assert "Not taken" in english and "Inte tagen" not in english


def test_insight_pages_render_with_data_and_without(dashboard_on_each_db: Dashboard):
    dashboard = dashboard_on_each_db
    client = dashboard.signed_in()
    for path in (
        "/dashboard/journey-map",
        "/dashboard/critical-journeys",
        "/dashboard/feedback",
        "/dashboard/models",
        "/dashboard/carts",
    ):
        assert client.get(path).status_code == 200, path
    seed_scored_customers(dashboard.database_url)
    journey = client.get("/dashboard/journey-map?period=all").text
    assert "Next purchase" in journey and "<svg" in journey
    assert (
        client.get("/dashboard/journey-map?segment=regular&category=electronics").status_code == 200
    )
    feedback = client.get("/dashboard/feedback?q=fast&period=all").text
    assert "Fast delivery, thanks!" in feedback
    assert "No comments found." in client.get("/dashboard/feedback?q=zzz%25_").text
    critical = client.get("/dashboard/critical-journeys?stage=loyalty&period=90d")
    assert critical.status_code == 200


def test_export_query_lists_exactly_what_the_at_risk_pages_list(dashboard_on_each_db: Dashboard):
    from datetime import timedelta
    from random import Random

    from sqlalchemy import insert

    from model_service import service
    from model_service.dashboard.at_risk_rows import iter_at_risk_rows
    from shared.db.tables import RiskScore
    from tests.dashboard.conftest import NOW

    url = dashboard_on_each_db.database_url
    rng = Random(3)
    rows = []
    for n in range(40):
        for days_ago in (7, 0):
            p = round(rng.random(), 2)  # ties in probability test the tie-break on the id
            rows.append(
                {
                    "task": "brand_switch",
                    "customer_id": f"x{n:02d}",
                    "stage": rng.choice(["purchase", "loyalty"]),
                    "segment": rng.choice(["regular", "premium"]),
                    "value": rng.choice([None, 100.0, 250.0]),
                    "probability": p,
                    "band": "high" if p >= 0.6 else "medium" if p >= 0.3 else "low",
                    "model_name": "kundresa-brand-switch",
                    "model_version": "1",
                    "as_of": NOW - timedelta(days=days_ago),
                }
            )
    with session_scope(url) as session:
        session.execute(insert(RiskScore), rows)
    for filters in (
        {},
        {"stage": "loyalty"},
        {"band": "high", "segment": "premium"},
        {"sort": "value_at_risk"},
    ):
        paged, cursor = [], None
        # Cursors are signed with the app's secret key.
        with dashboard_on_each_db.app.app_context():
            while True:
                page = service.at_risk(url, "brand_switch", limit=7, cursor=cursor, **filters)
                paged += [item.score_id for item in page.items]
                cursor = page.next_cursor
                if cursor is None:
                    break
        with session_scope(url) as session:
            streamed = [
                row.id
                for chunk in iter_at_risk_rows(session, "brand_switch", chunk=5, **filters)
                for row in chunk
            ]
        assert streamed == paged, filters


def test_nul_characters_are_refused_not_a_server_error(dashboard_on_each_db: Dashboard):
    client = dashboard_on_each_db.signed_in()
    for path in (
        "/dashboard/customers/a%00b",
        "/dashboard/feedback?q=x%00y",
        "/dashboard/?cursor=%00",
    ):
        assert client.get(path).status_code == 400, path
    token = csrf_token(client, "/dashboard/")
    response = client.post(
        "/dashboard/customers/c1/follow-up",
        data={"csrf_token": token, "action": "take", "note": "a\x00b"},
    )
    assert response.status_code == 400
    anonymous = dashboard_on_each_db.client()
    token = csrf_token(anonymous, "/dashboard/sign-in")
    response = anonymous.post(
        "/dashboard/sign-in", data={"csrf_token": token, "email": "a\x00@x", "password": "p"}
    )
    assert response.status_code == 400
