"""The critical-journeys page shows, under drop-off, NPS, CSAT and CES, how each moved since the
previous period, in English and Swedish."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select

from shared.db.session import session_scope
from shared.db.tables import JourneyEvent, Response, RiskScore, Survey
from tests.dashboard.conftest import Dashboard
from tests.model_service.test_critical_journeys import _answer, _event, _score

# Scored as of Sep 1 and Oct 1: the page's 30-day periods are August and September.
BEFORE, NOW = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)


def _seed(database_url: str) -> None:
    def day(month: int, day: int) -> datetime:
        return datetime(2026, month, day, 12, tzinfo=UTC)

    with session_scope(database_url) as session:
        survey_id = session.scalar(select(Survey.id).where(Survey.key == "cart_abandonment"))
        session.execute(
            insert(RiskScore),
            [_score("c1", "desire", 0.5, 100.0, BEFORE), _score("c1", "desire", 0.6, 100.0, NOW)],
        )
        session.execute(
            insert(JourneyEvent),
            [
                # August: a cart and no purchase (drop-off 100 %); September: bought (0 %).
                _event("c1", "add_to_cart", day(8, 10)),
                _event("c1", "add_to_cart", day(9, 10)),
                _event("c1", "purchase", day(9, 11)),
            ],
        )
        answers = [
            _answer("c1", day(8, 15), 2, 2, 2, "price"),
            _answer("c1", day(9, 15), 10, 5, 6, None),
        ]
        session.execute(insert(Response), [{**a, "survey_id": survey_id} for a in answers])


def test_critical_journeys_page_shows_the_changes_since_the_previous_period(
    dashboard_on_each_db: Dashboard,
) -> None:
    _seed(dashboard_on_each_db.database_url)
    client = dashboard_on_each_db.signed_in()
    page = client.get("/dashboard/critical-journeys?period=30d")
    assert page.status_code == 200
    deltas = page.text.split('class="sub delta"')[1:]
    shown = [part.split("</span>")[0].rsplit(">", 1)[1] for part in deltas]
    # Drop-off 100 % → 0 %, NPS −100 → 100, CSAT 0 % → 100 %, CES 2 → 6.
    assert shown == ["−100 pp", "+200", "+100 pp", "+4.0"]
    assert 'class="change better"' in deltas[0] and "Previous period: 100" in page.text
    swedish = client.get(
        "/dashboard/critical-journeys?period=30d", headers={"Accept-Language": "sv"}
    ).text
    assert "−100 p.e." in swedish and "Föregående period: 100" in swedish
