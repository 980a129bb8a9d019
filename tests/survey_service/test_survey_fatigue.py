"""Fatigue across surveys (global cooldown, cap, priority) and triggers that hold, over HTTP on
SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from shared.db.session import session_scope
from shared.db.tables import Site, Survey, SurveyImpression
from survey_service import lookups
from tests.survey_service.conftest import event, post_purchase_body, sqlite_only

CUSTOM: dict[str, Any] = {
    "key": "delivery-check",
    "name": "Delivery check",
    "questions": [{"id": "ces", "type": "ces", "required": True}],
    "texts": {"en": {"title": "Delivery", "questions": {"ces": {"label": "Easy?"}}}},
    "cooldown_days": 0,
}


def _custom(admin: dict, client: FlaskClient, **overrides: Any) -> dict:
    survey = {**copy.deepcopy(CUSTOM), **overrides}
    created = client.post("/v1/admin/surveys", json=survey, headers=admin)
    assert created.status_code == 201, created.json
    return created.json


def _ask(client: FlaskClient, site: dict, key: str, visitor: str, **moment: Any) -> str:
    query = urlencode({"visitor_id": visitor, **moment})
    answer = client.get(f"/v1/surveys/{key}/eligibility?{query}", headers=site)
    assert answer.status_code == 200, answer.json
    return answer.json["reason"]


def _set_site(database_url: str, site_key: str, **values: object) -> None:
    with session_scope(database_url) as session:
        session.execute(update(Site).where(Site.site_key == site_key).values(**values))
    lookups.forget()


def _age_offers(database_url: str, days: float) -> None:
    with session_scope(database_url) as session:
        session.execute(
            update(SurveyImpression).values(shown_at=datetime.now(UTC) - timedelta(days=days))
        )


def _link(client: FlaskClient, site: dict, visitor: str, customer: str) -> None:
    body = {"visitor_id": visitor, "customer_id": customer}
    assert client.post("/v1/identify", json=body, headers=site).status_code == 200


def _purchase(client: FlaskClient, site: dict, event_id: str, days_ago: float, **who: Any) -> None:
    when = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    body = {"events": [event(event_id, type="purchase", occurred_at=when, value=10.0, **who)]}
    assert client.post("/v1/events", json=body, headers=site).status_code == 202


def test_a_visitor_shown_one_survey_is_not_eligible_for_another_across_linked_ids(
    client: FlaskClient, site: dict, admin: dict, database_url: str
) -> None:
    _custom(admin, client)
    _link(client, site, "laptop", "c-7")
    _link(client, site, "phone", "c-7")
    assert _ask(client, site, "post_purchase", "laptop", event="purchase") == "ok"
    # Another survey, another device of the same person: within the 14 days after any offer.
    assert _ask(client, site, "delivery-check", "phone") == "global_cooldown"
    leaving = {"event": "exit_intent", "cart_items": 2}
    assert _ask(client, site, "cart_abandonment", "phone", **leaving) == "global_cooldown"
    # Someone else is not affected.
    assert _ask(client, site, "delivery-check", "stranger") == "ok"
    # Past the cooldown after an offer that was not answered, the person may be asked again.
    _age_offers(database_url, 15)
    assert _ask(client, site, "delivery-check", "phone") == "ok"


def test_an_answer_keeps_every_survey_away_for_longer(
    client: FlaskClient, site: dict, admin: dict, database_url: str
) -> None:
    _custom(admin, client)
    _link(client, site, "phone", "c-1")
    # Answered on a device never linked: the answer carries the customer id.
    answer = post_purchase_body(visitor_id="laptop", customer_id="c-1")
    assert client.post("/v1/responses", json=answer, headers=site).status_code == 201
    assert _ask(client, site, "delivery-check", "phone") == "global_cooldown"
    _set_site(database_url, site["X-Site-Key"], global_cooldown_answered_days=0)
    assert _ask(client, site, "delivery-check", "phone") == "ok"


def test_a_person_is_offered_at_most_the_site_s_cap_per_period(
    client: FlaskClient, site: dict, admin: dict, database_url: str
) -> None:
    _set_site(
        database_url,
        site["X-Site-Key"],
        global_cooldown_shown_days=0,
        max_surveys_per_period=2,
        period_days=30,
    )
    _custom(admin, client)
    _custom(admin, client, key="returns-check")
    _link(client, site, "laptop", "c-3")
    _link(client, site, "phone", "c-3")
    assert _ask(client, site, "delivery-check", "laptop") == "ok"
    assert _ask(client, site, "returns-check", "phone") == "ok"
    assert _ask(client, site, "post_purchase", "phone", event="purchase") == "global_cap"
    _age_offers(database_url, 31)
    assert _ask(client, site, "post_purchase", "phone", event="purchase") == "ok"


def test_a_survey_with_min_purchases_is_not_offered_to_a_visitor_without_a_purchase(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    # Only the trigger is under test here (relationship_nps samples 20 % by default).
    with session_scope(database_url) as session:
        session.execute(
            update(Survey).where(Survey.key == "relationship_nps").values(sampling_rate=1.0)
        )
    lookups.forget()
    browsing = {"event": "page_view"}
    assert _ask(client, site, "relationship_nps", "newcomer", **browsing) == "trigger"
    # The customer's purchase counts for every visitor id linked to them.
    _link(client, site, "newcomer", "c-9")
    _purchase(client, site, "e-buy", days_ago=2, visitor_id=None, customer_id="c-9")
    assert _ask(client, site, "relationship_nps", "newcomer", event="purchase") == "trigger"
    assert _ask(client, site, "relationship_nps", "newcomer", **browsing) == "ok"


def test_every_trigger_condition_is_enforced(
    client: FlaskClient, site: dict, admin: dict, database_url: str
) -> None:
    _set_site(
        database_url, site["X-Site-Key"], global_cooldown_shown_days=0, max_surveys_per_period=0
    )
    trigger = {
        "event": "page_view",
        "requires_cart": True,
        "stage": "desire",
        "page_url": "https://shop.example/cart*",
        "min_purchases": 1,
        "days_since_last_order": {"min": 30, "max": 60},
    }
    _custom(admin, client, trigger=trigger)
    moment = {
        "event": "page_view",
        "cart_items": 1,
        "stage": "desire",
        "page_url": "https://shop.example/cart/step-2",
    }
    _purchase(client, site, "e-old", days_ago=40, visitor_id="v-1")
    assert _ask(client, site, "delivery-check", "v-1", **moment) == "ok"
    for name, other in [
        ("event", "purchase"),
        ("cart_items", 0),
        ("stage", "loyalty"),
        ("page_url", "https://shop.example/product/1"),
    ]:
        assert _ask(client, site, "delivery-check", "v-2", **{**moment, name: other}) == "trigger"
        without = {k: v for k, v in moment.items() if k != name}
        assert _ask(client, site, "delivery-check", "v-3", **without) == "trigger", name
    # v-2 has never bought; v-4 bought too recently, v-5 too long ago.
    _purchase(client, site, "e-new", days_ago=3, visitor_id="v-4")
    _purchase(client, site, "e-older", days_ago=70, visitor_id="v-5")
    for visitor in ("v-2", "v-4", "v-5"):
        assert _ask(client, site, "delivery-check", visitor, **moment) == "trigger"


def test_a_higher_priority_survey_due_at_the_same_moment_wins(
    client: FlaskClient, site: dict, admin: dict
) -> None:
    created = _custom(admin, client, trigger={"event": "purchase"})
    assert created["priority"] == 10  # a custom survey's default
    assert _ask(client, site, "delivery-check", "v-1", event="purchase") == "priority"
    assert _ask(client, site, "post_purchase", "v-1", event="purchase") == "ok"
    # At another moment nothing outranks it.
    patched = client.patch(
        "/v1/admin/surveys/delivery-check", json={"trigger": None, "priority": 50}, headers=admin
    )
    assert patched.status_code == 200 and patched.json["priority"] == 50
    assert _ask(client, site, "delivery-check", "v-2", event="purchase") == "ok"


def test_each_reason_has_its_code(
    client: FlaskClient, site: dict, admin: dict, database_url: str
) -> None:
    _custom(admin, client, key="never", sampling_rate=0.0)
    _custom(admin, client, key="off", active=False)
    _custom(admin, client, key="again", cooldown_days=30)
    _custom(admin, client, key="low", trigger={"event": "purchase"})
    reasons = [
        _ask(client, site, "off", "v-1"),
        _ask(client, site, "post_purchase", "v-1"),  # no event: its trigger does not hold
        _ask(client, site, "never", "v-1"),
        _ask(client, site, "again", "v-1"),
        _ask(client, site, "again", "v-1"),
        _ask(client, site, "post_purchase", "v-1", event="purchase"),
    ]
    _set_site(
        database_url, site["X-Site-Key"], global_cooldown_shown_days=0, max_surveys_per_period=1
    )
    reasons.append(_ask(client, site, "post_purchase", "v-1", event="purchase"))
    reasons.append(_ask(client, site, "low", "v-2", event="purchase"))
    assert reasons == [
        "inactive",
        "trigger",
        "sampled_out",
        "ok",
        "cooldown",
        "global_cooldown",
        "global_cap",
        "priority",
    ]


@sqlite_only
def test_an_unknown_trigger_key_is_refused_on_save_and_named(
    client: FlaskClient, admin: dict
) -> None:
    answer = client.post(
        "/v1/admin/surveys",
        json={**CUSTOM, "trigger": {"event": "purchase", "min_purchase": 1}},
        headers=admin,
    )
    assert answer.status_code == 422
    assert "trigger.min_purchase" in answer.json["errors"]
    bad_values = {
        "event": "teleport",
        "stage": "nirvana",
        "page_url": "x" * 501,
        "days_since_last_order": {"min": 9, "max": 3},
        "min_purchases": -1,
    }
    errors = client.post(
        "/v1/admin/surveys", json={**CUSTOM, "trigger": bad_values}, headers=admin
    ).json["errors"]
    assert {f"trigger.{key}" for key in bad_values} <= {
        ".".join(name.split(".")[:2]) for name in errors
    }
    _custom(admin, client)
    patched = client.patch(
        "/v1/admin/surveys/delivery-check", json={"trigger": {"colour": "red"}}, headers=admin
    )
    assert patched.status_code == 422
    assert "trigger.colour" in patched.json["errors"]


@sqlite_only
def test_the_trigger_and_the_eligibility_context_are_in_the_openapi_document(
    client: FlaskClient,
) -> None:
    document = client.get("/openapi.json").json
    schemas = document["components"]["schemas"]
    trigger = next(s for name, s in schemas.items() if name.startswith("Trigger"))
    assert set(trigger["properties"]) == {
        "event",
        "requires_cart",
        "min_purchases",
        "stage",
        "page_url",
        "days_since_last_order",
    }
    assert trigger["additionalProperties"] is False
    eligibility = document["paths"]["/v1/surveys/{survey_key}/eligibility"]["get"]
    names = {p["name"] for p in eligibility["parameters"]}
    assert {"visitor_id", "event", "page_url", "stage", "cart_items"} <= names
    reason = next(s for name, s in schemas.items() if name.startswith("Eligibility"))
    assert "global_cooldown" in reason["properties"]["reason"]["enum"]


def test_a_stored_trigger_with_unknown_keys_still_works_and_can_be_changed(
    client: FlaskClient,
    site: dict,
    admin: dict,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _custom(admin, client, trigger={"event": "purchase"})
    with session_scope(database_url) as session:
        session.execute(
            update(Survey)
            .where(Survey.key == "delivery-check")
            .values(trigger={"event": "purchase", "legacy_flag": True})
        )
    lookups.forget()
    with caplog.at_level(logging.WARNING, logger="survey_service.lookups"):
        assert _ask(client, site, "delivery-check", "v-1", event="purchase") == "priority"
        assert _ask(client, site, "delivery-check", "v-1", event="page_view") == "trigger"
    assert "legacy_flag" in caplog.text
    # Changes that leave the trigger alone work; it is checked when it is set.
    assert client.delete("/v1/admin/surveys/delivery-check", headers=admin).status_code == 200
    fixed = client.patch(
        "/v1/admin/surveys/delivery-check",
        json={"trigger": {"event": "page_view"}, "active": True},
        headers=admin,
    )
    assert fixed.status_code == 200 and fixed.json["trigger"] == {"event": "page_view"}
    # A known key with a value that makes no sense: never offered, rather than to everyone.
    with session_scope(database_url) as session:
        session.execute(
            update(Survey)
            .where(Survey.key == "delivery-check")
            .values(trigger={"min_purchases": "many"})
        )
    lookups.forget()
    assert _ask(client, site, "delivery-check", "v-2", event="page_view") == "trigger"
