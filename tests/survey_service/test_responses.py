"""POST /v1/responses: stored once, retries recognised, answers checked against the survey."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from sqlalchemy import func, select

from shared.db.session import session_scope
from shared.db.tables import Customer, Response
from shared.identity_signature import identity_secret, sign_customer_id
from tests.survey_service.conftest import post_purchase_body, sqlite_only


def _stored(database_url: str) -> list[Response]:
    with session_scope(database_url) as session:
        return list(session.scalars(select(Response)))


def test_a_response_is_stored_with_its_score_columns(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    body = post_purchase_body()
    answer = client.post("/v1/responses", json=body, headers=site)
    assert answer.status_code == 201
    assert answer.json == {"response_id": body["response_id"], "duplicate": False}
    [row] = _stored(database_url)
    assert (row.nps, row.csat, row.ces, row.reason) == (9, 4, 6, None)
    assert row.comment == "Snabb leverans"
    assert row.answers == body["answers"]
    assert (row.customer_id, row.visitor_id, row.stage, row.locale) == (
        "c-1",
        "v-1",
        "purchase",
        "sv",
    )
    assert row.site_id is not None
    with session_scope(database_url) as session:
        assert session.get(Customer, "c-1") is not None


def test_retry_with_same_response_id_is_not_stored_twice(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    body = post_purchase_body()
    assert client.post("/v1/responses", json=body, headers=site).status_code == 201
    retry = client.post("/v1/responses", json=body, headers=site)
    assert retry.status_code == 200
    assert retry.json["duplicate"] is True
    assert len(_stored(database_url)) == 1


def test_same_response_id_with_another_body_is_a_conflict(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    body = post_purchase_body()
    client.post("/v1/responses", json=body, headers=site)
    other = {**body, "answers": {"csat": 1, "ces": 1}}
    answer = client.post("/v1/responses", json=other, headers=site)
    assert answer.status_code == 409
    assert "response_id" in answer.json["errors"]
    assert _stored(database_url)[0].csat == 4


@sqlite_only
def test_a_beacon_text_plain_body_is_read_like_json(
    client: FlaskClient, site_key: str, database_url: str
) -> None:
    body = post_purchase_body()
    # sendBeacon sets no headers: the customer's signature rides in the query too.
    signature = sign_customer_id(identity_secret(database_url, site_key), body["customer_id"])
    answer = client.post(
        f"/v1/responses?site_key={site_key}&identity_signature={signature}",
        data=json.dumps(body),
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://shop.example"},
    )
    assert answer.status_code == 201
    assert answer.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    bad = client.post(
        f"/v1/responses?site_key={site_key}",
        data=json.dumps({**body, "customer_id": None, "answers": {"csat": 6}}),
        headers={"Content-Type": "text/plain", "Origin": "https://shop.example"},
    )
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"answers.csat", "answers.ces"}


@sqlite_only
def test_answers_are_checked_against_the_questions(client: FlaskClient, site: dict) -> None:
    body = post_purchase_body(
        answers={"csat": 0, "ces": True, "nps": 11, "comment": "x" * 2001, "colour": "red"}
    )
    answer = client.post("/v1/responses", json=body, headers=site)
    assert answer.status_code == 422
    errors = answer.json["errors"]
    assert errors["answers.csat"] == ["Must be a whole number from 1 to 5."]
    assert errors["answers.ces"] == ["Must be a whole number from 1 to 7."]
    assert errors["answers.nps"] == ["Must be a whole number from 0 to 10."]
    assert errors["answers.comment"] == ["Must be at most 2000 characters."]
    assert errors["answers.colour"] == ["No such question in this survey."]


def test_a_cart_abandonment_reason_must_be_one_of_the_options(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    body = post_purchase_body(survey_key="cart_abandonment", answers={"reason": "too_blue"})
    answer = client.post("/v1/responses", json=body, headers=site)
    assert answer.status_code == 422
    assert "answers.reason" in answer.json["errors"]
    good = post_purchase_body(
        survey_key="cart_abandonment",
        cart_id="cart-9",
        answers={"reason": "unexpected_shipping_cost", "comment": "  "},
    )
    assert client.post("/v1/responses", json=good, headers=site).status_code == 201
    [row] = _stored(database_url)
    assert (row.reason, row.comment, row.cart_id) == ("unexpected_shipping_cost", None, "cart-9")


@sqlite_only
def test_request_fields_are_validated_and_unknown_ones_refused(
    client: FlaskClient, site: dict
) -> None:
    body = post_purchase_body(response_id="not-a-uuid", stage="heaven", extra=1)
    del body["visitor_id"], body["customer_id"]
    answer = client.post("/v1/responses", json=body, headers=site)
    assert answer.status_code == 422
    assert {"response_id", "stage", "extra", "visitor_id"} <= set(answer.json["errors"])
    unknown = client.post("/v1/responses", json=post_purchase_body(survey_key="nope"), headers=site)
    assert unknown.status_code == 422
    assert "survey_key" in unknown.json["errors"]


@sqlite_only
def test_a_filled_honeypot_is_acknowledged_but_not_stored(
    client: FlaskClient, site: dict, database_url: str
) -> None:
    body = post_purchase_body(website="http://spam.example", answers={"csat": 99})
    answer = client.post("/v1/responses", json=body, headers=site)
    assert answer.status_code == 201
    assert _stored(database_url) == []
    empty_honeypot = post_purchase_body(website="")
    assert client.post("/v1/responses", json=empty_honeypot, headers=site).status_code == 201
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).select_from(Response)) == 1


def test_text_that_no_database_can_store_is_refused(client: FlaskClient, site: dict) -> None:
    nul_id = client.post("/v1/responses", json=post_purchase_body(visitor_id="v\x00"), headers=site)
    assert nul_id.status_code == 422
    assert set(nul_id.json["errors"]) == {"visitor_id"}
    surrogate = post_purchase_body(answers={"csat": 4, "ces": 5, "comment": "\ud800"})
    answer = client.post("/v1/responses", json=surrogate, headers=site)
    assert answer.status_code == 422
    assert set(answer.json["errors"]) == {"answers.comment"}
