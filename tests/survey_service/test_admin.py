"""The admin API: surveys, responses (listed and streamed), metrics; tokens and roles."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from flask.testing import FlaskClient

from tests.survey_service.conftest import post_purchase_body, sqlite_only


def _survey(**overrides: Any) -> dict[str, Any]:
    survey: dict[str, Any] = {
        "key": "delivery-check",
        "kind": "custom",
        "name": "Delivery check",
        "questions": [
            {"id": "ces", "type": "ces", "required": True},
            {"id": "speed", "type": "single_choice", "options": ["fast", "slow"]},
            {"id": "extras", "type": "multi_choice", "options": ["gift", "note"]},
        ],
        "texts": {
            "en": {
                "title": "Your delivery",
                "questions": {
                    "ces": {"label": "How easy was delivery?"},
                    "speed": {"label": "Speed?", "options": {"fast": "Fast", "slow": "Slow"}},
                    "extras": {"label": "Extras?", "options": {"gift": "Gift", "note": "Note"}},
                },
            },
            "sv": {"title": "Din leverans", "questions": {"speed": {"label": "Hastighet?"}}},
        },
        "sampling_rate": 0.5,
        "cooldown_days": 14,
    }
    survey.update(overrides)
    return survey


def test_admin_routes_need_a_token_with_the_right_role(
    client: FlaskClient, support: dict, admin: dict
) -> None:
    assert client.get("/v1/admin/surveys").status_code == 401
    bad = client.get("/v1/admin/surveys", headers={"Authorization": "Bearer kr_wrong"})
    assert bad.status_code == 401
    assert client.get("/v1/admin/surveys", headers=support).status_code == 200
    forbidden = client.post("/v1/admin/surveys", json=_survey(), headers=support)
    assert forbidden.status_code == 403
    assert client.delete("/v1/admin/customers/c-1", headers=support).status_code == 403
    keys = [s["key"] for s in client.get("/v1/admin/surveys", headers=admin).json["items"]]
    assert keys == ["cart_abandonment", "post_purchase", "relationship_nps"]


def test_a_survey_is_created_served_updated_and_deactivated(
    client: FlaskClient, admin: dict, site: dict
) -> None:
    created = client.post("/v1/admin/surveys", json=_survey(), headers=admin)
    assert created.status_code == 201
    assert created.json["active"] is True and created.json["cooldown_days"] == 14
    assert client.post("/v1/admin/surveys", json=_survey(), headers=admin).status_code == 409
    swedish = client.get("/v1/surveys/delivery-check?locale=sv", headers=site).json
    assert swedish["title"] == "Din leverans"
    speed = swedish["questions"][1]
    assert speed["label"] == "Hastighet?"
    assert speed["options"] == [
        {"value": "fast", "label": "Fast"},
        {"value": "slow", "label": "Slow"},
    ]
    answer = post_purchase_body(
        survey_key="delivery-check", answers={"ces": 2, "speed": "slow", "extras": ["gift"]}
    )
    assert client.post("/v1/responses", json=answer, headers=site).status_code == 201
    repeated = post_purchase_body(
        survey_key="delivery-check", answers={"ces": 2, "extras": ["gift", "gift"]}
    )
    assert (
        "answers.extras" in client.post("/v1/responses", json=repeated, headers=site).json["errors"]
    )

    patched = client.patch(
        "/v1/admin/surveys/delivery-check", json={"cooldown_days": 3}, headers=admin
    )
    assert patched.status_code == 200
    assert patched.json["cooldown_days"] == 3 and patched.json["name"] == "Delivery check"
    deactivated = client.delete("/v1/admin/surveys/delivery-check", headers=admin)
    assert deactivated.json["active"] is False
    eligibility = client.get(
        "/v1/surveys/delivery-check/eligibility?visitor_id=v-9", headers=site
    ).json
    assert eligibility == {"eligible": False, "reason": "inactive"}
    assert client.get("/v1/admin/surveys/delivery-check", headers=admin).json["active"] is False
    assert client.get("/v1/admin/surveys/nope", headers=admin).status_code == 404


@sqlite_only
def test_an_invalid_survey_names_the_fields(client: FlaskClient, admin: dict) -> None:
    broken = _survey(
        key="Bad Key!",
        questions=[
            {"id": "ces", "type": "ces", "options": ["a"]},
            {"id": "speed", "type": "single_choice"},
        ],
        sampling_rate=2,
    )
    answer = client.post("/v1/admin/surveys", json=broken, headers=admin)
    assert answer.status_code == 422
    assert {"key", "questions.0.options", "questions.1.options", "sampling_rate"} <= set(
        answer.json["errors"]
    )
    no_english = _survey(texts={"sv": {"title": "Hej"}})
    errors = client.post("/v1/admin/surveys", json=no_english, headers=admin).json["errors"]
    assert "texts" in errors
    client.post("/v1/admin/surveys", json=_survey(), headers=admin)
    orphan = client.patch(
        "/v1/admin/surveys/delivery-check",
        json={"questions": [{"id": "ces", "type": "ces"}]},
        headers=admin,
    )
    assert orphan.status_code == 422
    assert "texts.en.questions.speed" in orphan.json["errors"]


def _answer_three(client: FlaskClient, site: dict) -> None:
    bodies = [
        post_purchase_body(customer_id="c-1", answers={"csat": 5, "ces": 7, "nps": 10}),
        post_purchase_body(
            customer_id="c-2", stage="loyalty", answers={"csat": 2, "ces": 2, "nps": 3}
        ),
        post_purchase_body(
            survey_key="cart_abandonment",
            customer_id="c-2",
            stage="desire",
            answers={"reason": "price_too_high", "comment": "=cmd|calc"},
        ),
    ]
    for body in bodies:
        assert client.post("/v1/responses", json=body, headers=site).status_code == 201


def test_responses_are_listed_with_filters_and_exported_as_streams(
    client: FlaskClient, site: dict, support: dict
) -> None:
    _answer_three(client, site)
    everything = client.get("/v1/admin/responses", headers=support).json
    assert len(everything["items"]) == 3 and everything["limit"] == 100
    only_c2 = client.get("/v1/admin/responses?customer_id=c-2&stage=loyalty", headers=support)
    assert [r["nps"] for r in only_c2.json["items"]] == [3]
    page = client.get("/v1/admin/responses?limit=1&offset=1", headers=support).json
    assert len(page["items"]) == 1
    future = client.get("/v1/admin/responses?since=2100-01-01T00:00:00Z", headers=support)
    assert future.status_code == 422

    ndjson = client.get("/v1/admin/responses/export", headers=support)
    assert ndjson.is_streamed and ndjson.mimetype == "application/x-ndjson"
    records = [json.loads(line) for line in ndjson.get_data(as_text=True).splitlines()]
    assert sorted(r["customer_id"] for r in records) == ["c-1", "c-2", "c-2"]
    exported = client.get(
        "/v1/admin/responses/export?format=csv&survey_key=cart_abandonment", headers=support
    )
    assert exported.is_streamed and exported.mimetype == "text/csv"
    assert exported.headers["Cache-Control"] == "no-store"
    assert exported.headers["Content-Disposition"] == 'attachment; filename="responses.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [(r["reason"], r["comment"]) for r in rows] == [("price_too_high", "'=cmd|calc")]
    bad = client.get("/v1/admin/responses/export?format=xlsx", headers=support)
    assert bad.status_code == 422 and "format" in bad.json["errors"]


def test_metrics_per_survey_and_stage(client: FlaskClient, site: dict, support: dict) -> None:
    _answer_three(client, site)
    answer = client.get("/v1/admin/metrics?period=all", headers=support)
    assert answer.status_code == 200
    groups = {(g["survey_key"], g["stage"]): g for g in answer.json["groups"]}
    assert groups[("post_purchase", "purchase")]["nps"] == 100.0
    loyalty = groups[("post_purchase", "loyalty")]
    assert (loyalty["nps"], loyalty["csat"], loyalty["ces"], loyalty["responses"]) == (
        -100.0,
        0.0,
        2.0,
        1,
    )
    cart = groups[("cart_abandonment", "desire")]
    assert cart["top_reasons"] == [{"reason": "price_too_high", "count": 1}]
    assert cart["nps"] is None
    monthly = client.get("/v1/admin/metrics?survey_key=post_purchase", headers=support).json
    assert monthly["period"] == "month"
    assert all(g["period_start"].endswith("-01") for g in monthly["groups"])
    assert len(monthly["groups"]) == 2
