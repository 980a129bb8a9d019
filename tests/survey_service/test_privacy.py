"""A customer's export and erasure: everything held is shown, everything personal goes,
and the survey aggregates stay the same."""

from __future__ import annotations

from datetime import UTC, datetime

from flask.testing import FlaskClient
from sqlalchemy import func, select

from shared.db.session import session_scope
from shared.db.tables import (
    Customer,
    FollowUp,
    FollowUpNote,
    Identity,
    IdentityLink,
    JourneyEvent,
    PrivacyRequest,
    Response,
    RiskScore,
    SurveyImpression,
)
from tests.survey_service.conftest import event, post_purchase_body


def _customer_with_history(client: FlaskClient, site: dict, database_url: str) -> None:
    client.post("/v1/identify", json={"visitor_id": "phone", "customer_id": "c-1"}, headers=site)
    client.get(
        "/v1/surveys/post_purchase/eligibility?visitor_id=phone&event=purchase", headers=site
    )
    batch = [
        event("e-1", visitor_id="phone"),
        event("e-2", visitor_id=None, customer_id="c-1", type="purchase", value=120.0),
        event("e-3", visitor_id="someone-else"),
    ]
    client.post("/v1/events", json={"events": batch}, headers=site)
    bodies = [
        post_purchase_body(
            customer_id=None,
            visitor_id="phone",
            answers={"csat": 2, "ces": 3, "nps": 4, "comment": "Slow!"},
        ),
        post_purchase_body(
            customer_id="other", visitor_id="o-1", answers={"csat": 5, "ces": 7, "nps": 10}
        ),
    ]
    for body in bodies:
        assert client.post("/v1/responses", json=body, headers=site).status_code == 201
    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        score = RiskScore(
            task="brand_switch",
            customer_id="c-1",
            probability=0.8,
            band="high",
            model_name="m",
            model_version="1",
            as_of=now,
        )
        session.add(score)
        session.flush()
        follow_up = FollowUp(
            customer_id="c-1", task="brand_switch", assignee="agent@example", risk_score_id=score.id
        )
        session.add(follow_up)
        session.flush()
        session.add(
            FollowUpNote(
                follow_up_id=follow_up.id,
                author="agent@example",
                status="contacted",
                note="Called, wants a refund",
            )
        )


def test_an_export_holds_everything_about_the_customer(
    client: FlaskClient, site: dict, admin: dict, database_url: str
) -> None:
    _customer_with_history(client, site, database_url)
    answer = client.get("/v1/admin/customers/c-1/export", headers=admin)
    assert answer.status_code == 200
    export = answer.json
    assert export["customer"]["id"] == "c-1"
    assert [i["visitor_id"] for i in export["identities"]] == ["phone"]
    assert export["visitor_ids"] == ["phone"]
    assert [(link["visitor_id"], link["unlinked_at"]) for link in export["identity_links"]] == [
        ("phone", None)
    ]
    assert "keyed pseudonyms" in export["models"]
    assert sorted(e["event_id"] for e in export["events"]) == ["e-1", "e-2"]
    assert [r["comment"] for r in export["responses"]] == ["Slow!"]
    assert [s["visitor_id"] for s in export["survey_impressions"]] == ["phone"]
    assert export["risk_scores"][0]["probability"] == 0.8
    assert export["follow_ups"][0]["notes"][0]["note"] == "Called, wants a refund"
    assert export["events"][0]["occurred_at"].startswith("2026-11-01T10:00:00")
    assert client.get("/v1/admin/customers/nobody/export", headers=admin).status_code == 404
    with session_scope(database_url) as session:
        logged = session.execute(select(PrivacyRequest.kind, PrivacyRequest.requested_by)).all()
    assert logged == [("export", "test-admin")]


def test_erasure_removes_personal_data_but_keeps_the_aggregates(
    client: FlaskClient, site: dict, admin: dict, support: dict, database_url: str
) -> None:
    _customer_with_history(client, site, database_url)
    before = client.get("/v1/admin/metrics?period=month", headers=support).json
    erased = client.delete("/v1/admin/customers/c-1", headers=admin)
    assert erased.status_code == 200
    assert erased.json == {
        "customer_id": "c-1",
        "events": 2,
        "responses_anonymised": 1,
        "identities": 1,
        "identity_links": 1,
        "links_of_other_customers": 0,
        "rows_of_other_customers_detached": 0,
        "survey_impressions": 1,
        "follow_ups": 1,
        "risk_scores": 1,
        "customer": 1,
        "outbox_events": 2,  # the webhook events that named the customer or their visitor
    }
    assert client.get("/v1/admin/metrics?period=month", headers=support).json == before
    with session_scope(database_url) as session:
        assert session.get(Customer, "c-1") is None
        assert session.scalars(select(JourneyEvent.event_id)).all() == ["e-3"]
        for table in (Identity, IdentityLink, SurveyImpression, RiskScore, FollowUp, FollowUpNote):
            assert session.scalar(select(func.count()).select_from(table)) == 0, table
        anonymous = session.scalars(select(Response).where(Response.csat == 2)).one()
        assert (anonymous.customer_id, anonymous.visitor_id, anonymous.comment) == (
            None,
            None,
            None,
        )
        assert anonymous.answers == {"nps": 4, "csat": 2, "ces": 3}
        assert anonymous.submitted_at.hour == 0
        assert session.scalar(select(func.count()).select_from(Response)) == 2
        kinds = session.scalars(select(PrivacyRequest.kind)).all()
    assert kinds == ["erase"]
    # What is left is the audit line of the erasure itself.
    after = client.get("/v1/admin/customers/c-1/export", headers=admin).json
    assert [r["kind"] for r in after["privacy_requests"]] == ["erase"]
    assert after["customer"] is None
    assert not any(after[k] for k in ("identities", "events", "responses", "risk_scores"))
    again = client.delete("/v1/admin/customers/c-1", headers=admin)
    assert again.status_code == 200 and again.json["events"] == 0
