"""Scores with their uncertainty, reasons for leaving a cart, and links without dead ends on
the journey map, the critical journeys and the feedback page."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import insert, select

from shared.db.session import session_scope
from shared.db.tables import Response, Survey
from tests.dashboard.conftest import NOW, Dashboard, seed_scored_customers


def _seed(database_url: str) -> None:
    """The scored customers, and c-cart's answer to the cart-abandonment survey."""
    seed_scored_customers(database_url)
    with session_scope(database_url) as session:
        survey_id = session.scalar(select(Survey.id).where(Survey.key == "cart_abandonment"))
        session.execute(
            insert(Response),
            [
                {
                    "response_id": "r-cart",
                    "survey_id": survey_id,
                    "survey_key": "cart_abandonment",
                    "customer_id": "c-cart",
                    "cart_id": "c-cart-cart",
                    "stage": "desire",
                    "answers": {"reason": "price_too_high", "comment": "Too pricey"},
                    "reason": "price_too_high",
                    "comment": "Too pricey",
                    "body_hash": "z" * 64,
                    "submitted_at": NOW - timedelta(days=8),
                }
            ],
        )


def _links(text: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]+)"', text)]


def test_feedback_shows_intervals_the_reason_chosen_and_the_breakdown(
    dashboard_on_each_db: Dashboard,
) -> None:
    _seed(dashboard_on_each_db.database_url)
    client = dashboard_on_each_db.signed_in()
    page = client.get("/dashboard/feedback?period=all")
    assert page.status_code == 200
    text = page.text
    # Two post-purchase answers at purchase: NPS 2 and 10, greyed as few answers.
    assert "few answers" in text and "2 answers" in text
    assert "−100 to 100" in text  # the NPS interval of one detractor and one promoter
    # The reason chosen is shown with the answer, in words, never as its code.
    assert "Reason chosen:" in text and "The price was too high" in text
    assert "price_too_high" not in text
    reasons = text.split('id="reasons"')[1].split("</section>")[0]
    assert "By stage" in reasons and "By segment" in reasons and "By product category" in reasons
    assert "Desire" in reasons and "regular" in reasons and "electronics" in reasons
    swedish = client.get("/dashboard/feedback?period=all", headers={"Accept-Language": "sv"}).text
    assert "Priset var för högt" in swedish and "få svar" in swedish


def test_journey_map_links_carry_the_filters_or_say_why_there_is_nobody(
    dashboard_on_each_db: Dashboard,
) -> None:
    _seed(dashboard_on_each_db.database_url)
    client = dashboard_on_each_db.signed_in()
    page = client.get("/dashboard/journey-map?period=all&category=electronics")
    assert page.status_code == 200
    links = _links(page.text)
    # Loyalty has customers scored for switching; desire an open cart; awareness nobody.
    assert "/dashboard/?stage=loyalty&category=electronics" in links
    assert "/dashboard/carts?stage=desire&category=electronics" in links
    assert not any("stage=awareness" in link for link in links)
    assert "no scored customer here" in page.text
    assert "loyal, not yet recommending us" in page.text
    # The links lead to the customers they count.
    listed = client.get("/dashboard/?stage=loyalty&category=electronics").text
    assert "c-calm" in listed and "Nobody matches these filters" not in listed
    carts = client.get("/dashboard/carts?stage=desire&category=electronics").text
    assert "c-cart" in carts


def test_critical_journeys_first_period_links_and_a_stage_without_journeys(
    dashboard_on_each_db: Dashboard,
) -> None:
    _seed(dashboard_on_each_db.database_url)
    client = dashboard_on_each_db.signed_in()
    page = client.get("/dashboard/critical-journeys?period=30d").text
    # Scored a week ago and now: nothing as old as the period's start to compare with.
    assert "first period" in page and ">new<" not in page
    assert "loyal, not yet recommending us" in page and "→ Advocacy" not in page
    assert "few answers" in page
    assert any(link.startswith("/dashboard/?stage=loyalty") for link in _links(page))
    # Brand-switch journeys list no reasons for leaving a cart; cart journeys do.
    assert "Top reasons" not in page
    carts = client.get("/dashboard/critical-journeys?task=cart_abandonment").text
    assert "Top reasons" in carts and "The price was too high" in carts
    assert any(link.startswith("/dashboard/carts?stage=desire") for link in _links(carts))
    nobody = client.get("/dashboard/critical-journeys?stage=awareness").text
    assert "No journey at this stage" in nobody and "No scored customers yet" not in nobody
