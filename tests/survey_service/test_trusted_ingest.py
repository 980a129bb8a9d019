"""Trusted ingest and verified identity over HTTP: what a browser (site key and Origin) may
send, what needs the shop's back office (an ingest token), and customer ids signed with the
site's identity secret."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from shared.auth import create_site
from shared.db.session import session_scope
from shared.db.tables import Customer, Identity, JourneyEvent, Response, Site
from shared.identity_signature import (
    identity_secret,
    rotate_identity_secret,
    sign_customer_id,
)
from tests.survey_service.conftest import ORIGIN, event, post_purchase_body, sqlite_only

SIGNATURE = "X-Identity-Signature"
PURCHASE = {"events": [event("buy-1", type="purchase", value=999_999_999.0, order_id="o-9")]}


def _signed(database_url: str, site_key: str, customer_id: str) -> dict[str, str]:
    return {SIGNATURE: sign_customer_id(identity_secret(database_url, site_key), customer_id)}


def _linked_customer(database_url: str, visitor_id: str) -> str | None:
    with session_scope(database_url) as session:
        return session.scalar(select(Identity.customer_id).where(Identity.visitor_id == visitor_id))


def _event_ids(database_url: str) -> list[str]:
    with session_scope(database_url) as session:
        return list(session.scalars(select(JourneyEvent.event_id).order_by(JourneyEvent.event_id)))


def test_a_purchase_with_only_the_site_key_and_no_origin_is_refused(
    client: FlaskClient, site_key: str, database_url: str
) -> None:
    answer = client.post("/v1/events", json=PURCHASE, headers={"X-Site-Key": site_key})
    assert answer.status_code == 403
    assert "Origin" in answer.json["errors"]
    assert _event_ids(database_url) == []


def test_a_browser_cannot_claim_a_purchase_or_a_refund(
    client: FlaskClient, browser: dict, database_url: str
) -> None:
    answer = client.post("/v1/events", json=PURCHASE, headers=browser)
    assert answer.status_code == 403
    assert list(answer.json["errors"]) == ["events.0.type"]
    refund = {"events": [event("ok-1"), event("refund-1", type="refund", value=-10.0)]}
    answer = client.post("/v1/events", json=refund, headers=browser)
    assert answer.status_code == 403
    assert list(answer.json["errors"]) == ["events.1.type"]
    assert _event_ids(database_url) == [], "all or nothing: the page view went nowhere either"


def test_the_back_office_may_send_a_purchase_for_any_customer(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    batch = {
        "events": [
            event("buy-1", type="purchase", value=499.0, customer_id="c-1", visitor_id=None),
            event("refund-1", type="refund", value=-499.0, customer_id="c-2", visitor_id=None),
        ]
    }
    answer = client.post("/v1/events", json=batch, headers=site)
    assert answer.status_code == 202
    assert answer.json == {"accepted": 2, "duplicates": 0}
    assert _event_ids(database_url) == ["buy-1", "refund-1"]


def test_a_browser_names_a_customer_only_with_a_valid_signature(
    client: FlaskClient, browser: dict, site_key: str, database_url: str
) -> None:
    batch = {"events": [event("e-1", customer_id="c-1")]}
    unsigned = client.post("/v1/events", json=batch, headers=browser)
    assert unsigned.status_code == 403
    assert SIGNATURE in unsigned.json["errors"]
    forged = client.post("/v1/events", json=batch, headers={**browser, SIGNATURE: "0" * 64})
    assert forged.status_code == 403
    assert SIGNATURE in forged.json["errors"]
    # Signed for another customer: not this one's.
    other = client.post(
        "/v1/events", json=batch, headers={**browser, **_signed(database_url, site_key, "c-2")}
    )
    assert other.status_code == 403
    assert _event_ids(database_url) == []
    signed = client.post(
        "/v1/events", json=batch, headers={**browser, **_signed(database_url, site_key, "c-1")}
    )
    assert signed.status_code == 202
    assert _event_ids(database_url) == ["e-1"]


def test_a_browser_sends_its_own_visitors_events_only(
    client: FlaskClient, browser: dict, database_url: str
) -> None:
    batch = {"events": [event("e-1", visitor_id="v-1"), event("e-2", visitor_id="v-2")]}
    answer = client.post("/v1/events", json=batch, headers=browser)
    assert answer.status_code == 403
    assert list(answer.json["errors"]) == ["events.1.visitor_id"]
    assert _event_ids(database_url) == []


def test_an_answer_names_a_customer_only_with_a_valid_signature(
    client: FlaskClient, browser: dict, site_key: str, database_url: str
) -> None:
    unsigned = client.post("/v1/responses", json=post_purchase_body(), headers=browser)
    assert unsigned.status_code == 403
    assert SIGNATURE in unsigned.json["errors"]
    anonymous = client.post(
        "/v1/responses", json=post_purchase_body(customer_id=None), headers=browser
    )
    assert anonymous.status_code == 201
    signed = client.post(
        "/v1/responses",
        json=post_purchase_body(),
        headers={**browser, **_signed(database_url, site_key, "c-1")},
    )
    assert signed.status_code == 201
    with session_scope(database_url) as session:
        customers = set(session.scalars(select(Response.customer_id)))
    assert customers == {"c-1", None}


def test_identify_needs_a_signature_and_an_unsigned_relink_changes_nothing(
    client: FlaskClient, browser: dict, site_key: str, database_url: str
) -> None:
    link = {"visitor_id": "laptop", "customer_id": "c-1"}
    missing = client.post("/v1/identify", json=link, headers=browser)
    assert missing.status_code == 403
    assert SIGNATURE in missing.json["errors"]
    assert _linked_customer(database_url, "laptop") is None

    linked = client.post(
        "/v1/identify", json=link, headers={**browser, **_signed(database_url, site_key, "c-1")}
    )
    assert linked.status_code == 200
    assert linked.json == {**link, "new_customer": True}
    assert _linked_customer(database_url, "laptop") == "c-1"

    relink = {"visitor_id": "laptop", "customer_id": "c-2"}
    forged = client.post("/v1/identify", json=relink, headers={**browser, SIGNATURE: "ab" * 32})
    assert forged.status_code == 403
    assert SIGNATURE in forged.json["errors"]
    assert _linked_customer(database_url, "laptop") == "c-1"

    moved = client.post(
        "/v1/identify", json=relink, headers={**browser, **_signed(database_url, site_key, "c-2")}
    )
    assert moved.status_code == 200
    assert _linked_customer(database_url, "laptop") == "c-2"


def test_a_site_without_required_signatures_still_never_relinks_unsigned(
    client: FlaskClient, database_url: str
) -> None:
    """A site from before identity secrets (require_identity_signature false) keeps working
    for first links, but moving a visitor to another customer needs a signature."""
    key = create_site(database_url, "Old shop", [ORIGIN], require_identity_signature=False)
    browser = {"X-Site-Key": key, "Origin": ORIGIN}
    first = client.post(
        "/v1/identify", json={"visitor_id": "phone", "customer_id": "c-1"}, headers=browser
    )
    assert first.status_code == 200
    again = client.post(
        "/v1/identify", json={"visitor_id": "phone", "customer_id": "c-1"}, headers=browser
    )
    assert again.status_code == 200
    relink = client.post(
        "/v1/identify", json={"visitor_id": "phone", "customer_id": "c-9"}, headers=browser
    )
    assert relink.status_code == 403
    assert SIGNATURE in relink.json["errors"]
    assert _linked_customer(database_url, "phone") == "c-1"
    with session_scope(database_url) as session:
        assert session.get(Customer, "c-9") is None, "nothing is created on a refusal"
    # A forged signature is refused even where none is required.
    forged = client.post(
        "/v1/identify",
        json={"visitor_id": "tablet", "customer_id": "c-1"},
        headers={**browser, SIGNATURE: "f" * 64},
    )
    assert forged.status_code == 403
    assert _linked_customer(database_url, "tablet") is None


def test_the_back_office_may_relink_without_a_signature(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    for customer in ("c-1", "c-2"):
        answer = client.post(
            "/v1/identify", json={"visitor_id": "kiosk", "customer_id": customer}, headers=site
        )
        assert answer.status_code == 200
    assert _linked_customer(database_url, "kiosk") == "c-2"


@sqlite_only
def test_a_rotated_secret_refuses_the_old_signatures(
    client: FlaskClient, browser: dict, site_key: str, database_url: str
) -> None:
    from survey_service import lookups

    old = _signed(database_url, site_key, "c-1")
    with session_scope(database_url) as session:
        name = session.scalar(select(Site.name).where(Site.site_key == site_key))
    new_secret = rotate_identity_secret(database_url, name)
    lookups.forget()  # the CLI runs in another process; this one would see it within seconds
    link: dict[str, Any] = {"visitor_id": "v-1", "customer_id": "c-1"}
    assert client.post("/v1/identify", json=link, headers={**browser, **old}).status_code == 403
    fresh = {SIGNATURE: sign_customer_id(new_secret, "c-1")}
    assert client.post("/v1/identify", json=link, headers={**browser, **fresh}).status_code == 200
    assert rotate_identity_secret(database_url, "No such shop") is None


@sqlite_only
def test_the_identity_secret_stays_out_of_reprs(site_key: str, database_url: str) -> None:
    from survey_service import lookups

    secret = identity_secret(database_url, site_key)
    assert secret and secret not in repr(lookups.site(database_url, site_key))


@sqlite_only
def test_neither_the_secret_nor_a_signature_is_logged(
    client: FlaskClient,
    browser: dict,
    site_key: str,
    database_url: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = identity_secret(database_url, site_key)
    signature = sign_customer_id(secret, "c-1")
    link = {"visitor_id": "v-1", "customer_id": "c-1"}
    client.post(f"/v1/identify?identity_signature={signature}", json=link, headers=browser)
    client.post("/v1/identify", json=link, headers={**browser, SIGNATURE: signature})
    client.post("/v1/identify", json=link, headers={**browser, SIGNATURE: "0" * 64})
    # Every field of every record, as the JSON formatter would write them.
    logged = capfd.readouterr().err + " ".join(str(vars(r)) for r in caplog.records)
    assert "/v1/identify" in logged
    assert secret not in logged and signature not in logged
