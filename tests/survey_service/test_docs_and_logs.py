"""The API documents itself without a CDN, and the logs carry no secrets or free text."""

from __future__ import annotations

import logging
import re

import pytest
from flask.testing import FlaskClient

from shared.observability import JsonFormatter
from tests.survey_service.conftest import post_purchase_body, sqlite_only


@sqlite_only
def test_the_openapi_document_and_docs_page_need_nothing_from_the_internet(
    client: FlaskClient,
) -> None:
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert {"/v1/responses", "/v1/events", "/v1/admin/customers/{customer_id}"} <= set(
        spec["paths"]
    )
    assert set(spec["components"]["securitySchemes"]) >= {"bearer", "site_key"}
    # A shop's developer finds the identity signature header where the calls are described.
    for path in ("/v1/responses", "/v1/events", "/v1/identify"):
        headers = [
            p["name"] for p in spec["paths"][path]["post"]["parameters"] if p["in"] == "header"
        ]
        assert headers == ["X-Identity-Signature"], path
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.get_data(as_text=True))
    assert assets and all(url.startswith("/docs/assets/") for url in assets)
    for url in assets:
        assert client.get(url).status_code == 200, url


@sqlite_only
def test_logs_never_hold_tokens_site_keys_or_answers(
    client: FlaskClient, site: dict, admin: dict, caplog: pytest.LogCaptureFixture
) -> None:
    secret_comment = "my phone is 070-1234567"
    with caplog.at_level(logging.DEBUG):
        body = post_purchase_body(answers={"csat": 2, "ces": 2, "comment": secret_comment})
        client.post("/v1/responses?debug=1", json=body, headers=site)
        client.get("/v1/admin/responses/export", headers=admin).get_data()
        client.delete("/v1/admin/customers/c-1", headers=admin)
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "response stored" in logged and "customer erased" in logged
    for secret in (secret_comment, site["X-Site-Key"], admin["Authorization"].split()[1]):
        assert secret not in logged
