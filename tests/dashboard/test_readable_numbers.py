"""Probabilities to the precision they have on the dashboard: never "100 %" or "0 %", with the
percentile beside them, and the list ordered by expected value at risk."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import insert

from shared.db.session import session_scope
from shared.db.tables import RiskScore
from tests.dashboard.conftest import NOW, Dashboard, seed_scored_customers

# Axis ticks of a chart say where 0 and 100 % are, not what a customer's risk is.
TICK = re.compile(r'<text class="tick"[^>]*>[^<]*</text>')
CERTAIN = re.compile(r"\b(100|0)(\s|&nbsp;|\xa0)?%")


def _near_certain_scores(database_url: str) -> None:
    """A newest score of 0.9999 for c-risky and of 0.00001 for c-calm, as a saturated model
    gives; one batch (same as_of and version)."""
    base = {
        "task": "brand_switch",
        "model_name": "kundresa-brand-switch",
        "model_version": "4",
        "stage": "loyalty",
        "segment": "regular",
        "reasons": [],
        "as_of": NOW + timedelta(hours=1),
    }
    with session_scope(database_url) as session:
        session.execute(
            insert(RiskScore),
            [
                {
                    **base,
                    "customer_id": "c-risky",
                    "value": 900.0,
                    "probability": 0.9999,
                    "band": "high",
                },
                {
                    **base,
                    "customer_id": "c-calm",
                    "value": 300.0,
                    "probability": 0.00001,
                    "band": "low",
                },
            ],
        )


def _shown(html: str) -> str:
    return TICK.sub("", html)


def test_no_probability_is_shown_as_100_or_0_percent_on_the_list_or_customer_page(
    dashboard: Dashboard,
):
    seed_scored_customers(dashboard.database_url)
    _near_certain_scores(dashboard.database_url)
    client = dashboard.signed_in()
    listed = client.get("/dashboard/")
    assert listed.status_code == 200
    assert "&gt; 99 %" in listed.text and "&lt; 1 %" in listed.text
    assert not CERTAIN.search(_shown(listed.text)), CERTAIN.search(_shown(listed.text))
    assert "Percentile 100" in listed.text  # the riskiest of its batch
    page = client.get("/dashboard/customers/c-risky")
    assert page.status_code == 200
    assert "&gt; 99 %" in page.text
    assert not CERTAIN.search(_shown(page.text)), CERTAIN.search(_shown(page.text))
    assert "Risk = definition unknown" in page.text  # no model serves: still shown
    swedish = client.get("/dashboard/", headers={"Accept-Language": "sv"})
    assert not CERTAIN.search(_shown(swedish.text))


def test_the_histogram_draws_where_the_stored_bands_begin(dashboard: Dashboard):
    seed_scored_customers(dashboard.database_url)
    _near_certain_scores(dashboard.database_url)
    page = dashboard.signed_in().get("/dashboard/models")
    assert page.status_code == 200
    # c-risky (0.9999) is the only high score among the newest: the high band begins there.
    assert '<line class="cut band-high"' in page.text
    assert "High from &gt; 99 %" in page.text
    assert not CERTAIN.search(_shown(page.text))


def test_the_list_puts_the_largest_expected_value_at_risk_first_and_can_sort_by_risk(
    dashboard: Dashboard,
):
    seed_scored_customers(dashboard.database_url)
    with session_scope(dashboard.database_url) as session:
        session.execute(
            insert(RiskScore),
            [
                {
                    "task": "brand_switch",
                    "model_name": "kundresa-brand-switch",
                    "model_version": "4",
                    "customer_id": customer,
                    "value": value,
                    "probability": probability,
                    "band": band,
                    "reasons": [],
                    "as_of": NOW + timedelta(hours=1),
                }
                for customer, value, probability, band in [
                    ("c-risky", 100.0, 0.9, "high"),  # 90 at risk
                    ("c-calm", 5000.0, 0.3, "medium"),  # 1,500 at risk
                ]
            ],
        )
    client = dashboard.signed_in()
    text = client.get("/dashboard/").text
    assert text.index("c-calm") < text.index("c-risky")
    assert "1,500" in text  # the expected value at risk, in its own column
    by_risk = client.get("/dashboard/?sort=risk").text
    assert by_risk.index("c-risky") < by_risk.index("c-calm")
