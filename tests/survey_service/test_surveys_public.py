"""GET /v1/surveys/<key> (localized) and its eligibility (sampling and cooldown); fatigue
across surveys and triggers are in test_survey_fatigue.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select, update

from shared.db.session import session_scope
from shared.db.tables import Site, Survey, SurveyImpression
from survey_service import lookups
from survey_service.eligibility import sampling_bucket
from tests.survey_service.conftest import sqlite_only


def test_a_survey_is_served_in_the_visitors_language(client: FlaskClient, site: dict) -> None:
    answer = client.get("/v1/surveys/cart_abandonment?locale=sv-SE", headers=site)
    assert answer.status_code == 200
    survey = answer.json
    assert (survey["key"], survey["kind"], survey["locale"]) == (
        "cart_abandonment",
        "cart_abandonment",
        "sv",
    )
    assert survey["submit"] == "Skicka"
    reason, comment = survey["questions"]
    assert reason["type"] == "single_choice" and reason["required"] is True
    assert {"value": "unexpected_shipping_cost", "label": "Oväntade fraktkostnader"} in reason[
        "options"
    ]
    assert comment == {
        "id": "comment",
        "type": "text",
        "label": "Något vi kan göra bättre? (valfritt)",
        "required": False,
        "max_length": 2000,
    }


@sqlite_only
def test_norwegian_aliases_and_unknown_languages_fall_back(client: FlaskClient, site: dict) -> None:
    norwegian = client.get("/v1/surveys/relationship_nps?locale=no", headers=site).json
    assert norwegian["locale"] == "nb"
    nps = norwegian["questions"][0]
    assert (nps["type"], nps["min_label"], nps["max_label"]) == (
        "nps",
        "Svært lite sannsynlig",
        "Svært sannsynlig",
    )
    finnish = client.get("/v1/surveys/relationship_nps?locale=fi", headers=site).json
    assert finnish["locale"] == "en"
    danish = client.get("/v1/surveys/post_purchase?locale=da", headers=site).json
    assert danish["thanks"] == "Tak for dit svar!"
    assert client.get("/v1/surveys/nope", headers=site).status_code == 404
    assert client.get("/v1/surveys/post_purchase?colour=red", headers=site).status_code == 422


def _set_survey(database_url: str, key: str, **values: object) -> None:
    with session_scope(database_url) as session:
        session.execute(update(Survey).where(Survey.key == key).values(**values))
    lookups.forget()


def test_eligibility_starts_a_cooldown_across_a_customers_devices(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    def ask(visitor: str) -> dict:
        url = f"/v1/surveys/post_purchase/eligibility?visitor_id={visitor}&event=purchase"
        return client.get(url, headers=site).json

    assert ask("laptop") == {"eligible": True, "reason": "ok"}
    assert ask("laptop") == {"eligible": False, "reason": "cooldown"}
    client.post("/v1/identify", json={"visitor_id": "laptop", "customer_id": "c-1"}, headers=site)
    client.post("/v1/identify", json={"visitor_id": "phone", "customer_id": "c-1"}, headers=site)
    assert ask("phone") == {"eligible": False, "reason": "cooldown"}
    assert ask("stranger") == {"eligible": True, "reason": "ok"}
    # The cooldown (30 days) counts from the offer: an old offer no longer blocks.
    with session_scope(database_url) as session:
        session.execute(
            update(SurveyImpression).values(shown_at=datetime.now(UTC) - timedelta(days=31))
        )
    assert ask("phone") == {"eligible": True, "reason": "ok"}
    with session_scope(database_url) as session:
        offers = session.scalars(select(SurveyImpression.visitor_id)).all()
    assert sorted(offers) == ["laptop", "phone", "stranger"]
    _set_survey(database_url, "post_purchase", active=False)
    assert ask("newcomer") == {"eligible": False, "reason": "inactive"}


@sqlite_only
def test_sampling_is_fixed_per_visitor_and_survey(
    client: FlaskClient, site: dict, site_key: str, database_url: str
) -> None:
    # Nothing but sampling: no trigger, no cooldown of its own or across surveys.
    _set_survey(database_url, "relationship_nps", sampling_rate=0.5, cooldown_days=0, trigger=None)
    with session_scope(database_url) as session:
        session.execute(
            update(Site)
            .where(Site.site_key == site_key)
            .values(global_cooldown_shown_days=0, max_surveys_per_period=0)
        )
    lookups.forget()
    visitors = [f"v-{i}" for i in range(40)]
    first = {
        v: client.get(f"/v1/surveys/relationship_nps/eligibility?visitor_id={v}", headers=site).json
        for v in visitors
    }
    second = {
        v: client.get(f"/v1/surveys/relationship_nps/eligibility?visitor_id={v}", headers=site).json
        for v in visitors
    }
    assert first == second
    for visitor, answer in first.items():
        sampled_in = sampling_bucket("relationship_nps", visitor) < 0.5
        assert answer == (
            {"eligible": True, "reason": "ok"}
            if sampled_in
            else {"eligible": False, "reason": "sampled_out"}
        )
    assert 5 < sum(a["eligible"] for a in first.values()) < 35
    missing = client.get("/v1/surveys/relationship_nps/eligibility", headers=site)
    assert missing.status_code == 422 and "visitor_id" in missing.json["errors"]
