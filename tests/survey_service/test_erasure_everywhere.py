"""Erasure reaches everything: every visitor id ever linked to the customer, in every table,
even after the device was linked to someone else; the export lists it all first; and neither
the link history nor the access log keeps an erased id."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import MetaData, select

from shared.db.session import get_engine, session_scope
from shared.db.tables import FollowUp, FollowUpNote, IdentityLink, JourneyEvent, RiskScore
from shared.observability import JsonFormatter
from survey_service.identity import identify
from tests.survey_service.conftest import event, post_purchase_body, sqlite_only

ANNA = "anna.erased@example.com"
BERTIL = "bertil.kept@example.com"
DEVICE = "device-of-anna-7f3c"


def _identify(client: FlaskClient, site: dict, visitor_id: str, customer_id: str) -> None:
    body = {"visitor_id": visitor_id, "customer_id": customer_id}
    assert client.post("/v1/identify", json=body, headers=site).status_code < 300


def _events(client: FlaskClient, site: dict, *events: dict) -> None:
    assert client.post("/v1/events", json={"events": list(events)}, headers=site).status_code < 300


def _anna_then_her_device_to_bertil(client: FlaskClient, site: dict, database_url: str) -> None:
    """Anna uses her device; the device is then linked to Bertil, who uses it too."""
    _identify(client, site, DEVICE, ANNA)
    eligibility = f"/v1/surveys/post_purchase/eligibility?visitor_id={DEVICE}&event=purchase"
    assert client.get(eligibility, headers=site).status_code == 200
    _events(
        client,
        site,
        *(event(f"anna-view-{i}", visitor_id=DEVICE) for i in range(16)),
        event(
            "anna-cart",
            visitor_id=DEVICE,
            type="add_to_cart",
            cart_id="cart-anna",
            properties={"email": ANNA},
        ),
        event("anna-buy", visitor_id=DEVICE, customer_id=ANNA, type="purchase", value=80.0),
    )
    answer = post_purchase_body(
        customer_id=ANNA, visitor_id=DEVICE, answers={"csat": 2, "ces": 3, "comment": "Slow"}
    )
    assert client.post("/v1/responses", json=answer, headers=site).status_code == 201
    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        common: dict[str, Any] = {"probability": 0.7, "band": "high", "model_name": "m"}
        session.add(
            RiskScore(
                task="cart_abandonment",
                visitor_id=DEVICE,
                cart_id="cart-anna",
                model_version="1",
                as_of=now,
                **common,
            )
        )
        score = RiskScore(
            task="brand_switch", customer_id=ANNA, model_version="1", as_of=now, **common
        )
        session.add(score)
        session.flush()
        follow_up = FollowUp(
            customer_id=ANNA, task="brand_switch", assignee="agent@example", risk_score_id=score.id
        )
        session.add(follow_up)
        session.flush()
        session.add(
            FollowUpNote(follow_up_id=follow_up.id, author="agent@example", status="contacted")
        )
    _identify(client, site, DEVICE, BERTIL)
    _events(
        client,
        site,
        event("bertil-view", visitor_id=DEVICE, occurred_at="2026-11-02T10:00:00Z"),
        event(
            "bertil-buy",
            visitor_id=DEVICE,
            customer_id=BERTIL,
            type="purchase",
            value=50.0,
            occurred_at="2026-11-02T10:05:00Z",
        ),
    )


def _where_held(database_url: str, *needles: str) -> list[str]:
    """Every table.column (reflected from the database itself) whose text or JSON holds a
    needle."""
    engine = get_engine(database_url)
    metadata = MetaData()
    metadata.reflect(engine)
    found = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)).mappings():
                for column, value in row.items():
                    if isinstance(value, str | dict | list):
                        text = value if isinstance(value, str) else json.dumps(value)
                        found += [f"{table.name}.{column}" for n in needles if n in text]
    return sorted(set(found))


def test_erasing_a_customer_whose_device_was_relinked_leaves_no_trace(
    client: FlaskClient, site: dict, admin: dict, database_url: str
) -> None:
    _anna_then_her_device_to_bertil(client, site, database_url)
    assert _where_held(database_url, ANNA, DEVICE)  # the scan does find them

    export = client.get(f"/v1/admin/customers/{ANNA}/export", headers=admin).json
    assert export["visitor_ids"] == [DEVICE]
    [link] = export["identity_links"]
    assert (link["visitor_id"], link["customer_id"]) == (DEVICE, ANNA)
    assert link["unlinked_at"] is not None  # moved to Bertil
    assert export["identities"] == []  # the current link is Bertil's now
    assert len([e for e in export["events"] if e["event_id"].startswith("anna-")]) == 18
    assert {s["cart_id"] for s in export["risk_scores"]} == {"cart-anna", None}
    assert [s["visitor_id"] for s in export["survey_impressions"]] == [DEVICE]
    assert export["follow_ups"][0]["notes"][0]["status"] == "contacted"
    assert [r["comment"] for r in export["responses"]] == ["Slow"]
    assert "keyed pseudonyms" in export["models"]
    assert BERTIL not in json.dumps(export)  # another customer's data is not shown to Anna

    erased = client.delete(f"/v1/admin/customers/{ANNA}", headers=admin)
    assert erased.status_code == 200
    assert erased.json["links_of_other_customers"] == 1
    assert erased.json["rows_of_other_customers_detached"] == 1
    assert erased.json["identity_links"] == 2  # Anna's and Bertil's link to the device

    assert _where_held(database_url, ANNA, DEVICE) == []
    with session_scope(database_url) as session:
        # Bertil's purchase is his: kept, without the device id.
        kept = session.get(JourneyEvent, "bertil-buy")
        assert (kept.customer_id, kept.visitor_id, kept.value) == (BERTIL, None, 50.0)
    # The audit line is found again by the id, though it holds only a keyed pseudonym.
    after = client.get(f"/v1/admin/customers/{ANNA}/export", headers=admin).json
    assert [r["kind"] for r in after["privacy_requests"]] == ["export", "erase"]
    assert all(r["customer_id"] is None for r in after["privacy_requests"])


def test_an_erasure_turns_audit_lines_that_hold_the_raw_id_into_pseudonyms(
    client: FlaskClient, site: dict, admin: dict, database_url: str
) -> None:
    from shared.db.tables import PrivacyRequest

    _identify(client, site, DEVICE, ANNA)
    with session_scope(database_url) as session:  # a line written before migration 0004
        session.add(PrivacyRequest(customer_id=ANNA, kind="export", requested_by="old-admin"))
    before = client.get(f"/v1/admin/customers/{ANNA}/export", headers=admin).json
    assert [r["requested_by"] for r in before["privacy_requests"]] == ["old-admin"]
    assert client.delete(f"/v1/admin/customers/{ANNA}", headers=admin).status_code == 200
    assert _where_held(database_url, ANNA, DEVICE) == []
    after = client.get(f"/v1/admin/customers/{ANNA}/export", headers=admin).json
    assert [r["kind"] for r in after["privacy_requests"]] == ["export", "export", "erase"]


def test_link_history_opens_and_closes_a_row_per_move(database_url: str) -> None:
    identify(database_url, DEVICE, ANNA, may_relink=True)
    identify(database_url, DEVICE, ANNA, may_relink=True)  # the same link again: no new history
    identify(database_url, DEVICE, BERTIL, may_relink=True)
    identify(database_url, DEVICE, ANNA, may_relink=True)
    with session_scope(database_url) as session:
        links = session.execute(
            select(IdentityLink.customer_id, IdentityLink.unlinked_at.is_(None)).order_by(
                IdentityLink.id
            )
        ).all()
    assert [tuple(link) for link in links] == [(ANNA, False), (BERTIL, False), (ANNA, True)]


@sqlite_only
@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("DELETE", f"/v1/admin/customers/{ANNA}", "/v1/admin/customers/<customer_id>"),
        ("GET", f"/v1/admin/customers/{ANNA}/export", "/v1/admin/customers/<customer_id>/export"),
        (
            "GET",
            f"/v1/surveys/post_purchase/eligibility?visitor_id={DEVICE}",
            "/v1/surveys/<survey_key>/eligibility",
        ),
    ],
)
def test_access_lines_name_the_route_not_the_ids_in_the_path(
    client: FlaskClient,
    site: dict,
    admin: dict,
    method: str,
    path: str,
    route: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _identify(client, site, DEVICE, ANNA)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert client.open(path, method=method, headers={**site, **admin}).status_code == 200
    [line] = [r for r in caplog.records if r.name.endswith(".access")]
    logged = JsonFormatter().format(line)
    assert ANNA not in logged and DEVICE not in logged
    assert json.loads(logged)["route"] == route


def test_a_link_written_without_history_enters_it_when_it_moves(
    client: FlaskClient, site: dict, admin: dict, database_url: str
) -> None:
    from shared.db.tables import Customer, Identity

    with session_scope(database_url) as session:  # as the synthetic data writes links
        session.add(Customer(id=ANNA))
        session.flush()
        session.add(Identity(visitor_id=DEVICE, customer_id=ANNA))
    _events(client, site, event("anna-view", visitor_id=DEVICE))
    _identify(client, site, DEVICE, BERTIL)
    export = client.get(f"/v1/admin/customers/{ANNA}/export", headers=admin).json
    assert export["visitor_ids"] == [DEVICE]
    assert client.delete(f"/v1/admin/customers/{ANNA}", headers=admin).status_code == 200
    assert _where_held(database_url, ANNA, DEVICE) == []


def test_links_of_one_visitor_at_once_leave_one_open_link(database_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from shared.db.tables import Identity

    customers = [f"c-{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda c: identify(database_url, DEVICE, c, may_relink=True), customers))
    with session_scope(database_url) as session:
        current = session.get(Identity, DEVICE).customer_id
        links = session.execute(select(IdentityLink.customer_id, IdentityLink.unlinked_at)).all()
    assert sorted(c for c, _ in links) == customers
    assert [c for c, unlinked in links if unlinked is None] == [current]
