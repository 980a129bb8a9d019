"""The Flask edges both services share: the error body is the one the OpenAPI document
describes, domain refusals become status codes in one place, ``auth(role)`` checks, documents
and challenges, the settings live in an extension and a request has one database session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from shared.auth import auth, create_token
from shared.errors import Conflict, Invalid, NotFound
from shared.web import (
    EXTENSION,
    ErrorSchema,
    KundresaExtension,
    StrictBlueprint,
    create_api,
    current_settings,
    db_session,
    refuses,
)
from survey_service.app import create_app as create_survey_app
from tests.conftest import make_settings

CHALLENGE = 'Bearer realm="kundresa"'


def _edge_app(tmp_path: Path, database_url: str) -> Flask:
    """A bare app with the shared plumbing and a few views that refuse in each way."""
    app = Flask(__name__)
    api = create_api(app, "Edge test API", "1.0", make_settings(tmp_path, database_url))
    blp = StrictBlueprint("edges", __name__, url_prefix="/edges")
    seen: dict[str, Any] = {}

    @blp.route("/secret", methods=["GET"])
    @auth("admin")
    def secret():
        return {"principal": g.principal, "role": g.role}

    @blp.route("/invalid", methods=["GET"])
    def invalid():
        raise Invalid("Status must be one of open, resolved.", field="status")

    @blp.route("/unworded", methods=["GET"])
    @refuses(Conflict, "This key is taken.", errors={"key": ["Already used."]})
    def unworded():
        raise Conflict()

    @blp.route("/worded", methods=["GET"])
    @refuses(NotFound, "No thing has this id.")
    def worded():
        raise NotFound("No thing 'x'.", field="id")

    @blp.route("/sessions", methods=["GET"])
    def sessions():
        seen["session"] = db_session()
        return {"same": db_session() is seen["session"]}

    api.register_blueprint(blp)
    app.config["SEEN"] = seen
    return app


@pytest.fixture
def edge_client(tmp_path: Path, sqlite_url: str) -> FlaskClient:
    return _edge_app(tmp_path, sqlite_url).test_client()


def _documented_error_schema(client: FlaskClient) -> dict[str, Any]:
    return client.get("/openapi.json").get_json()["components"]["schemas"]["Error"]


def _matches(body: dict[str, Any], documented: dict[str, Any]) -> None:
    """``body`` has every required property, no undocumented one, and the documented types."""
    assert set(documented["required"]) <= set(body)
    assert set(body) <= set(documented["properties"])
    assert documented["additionalProperties"] is False
    properties = documented["properties"]
    assert properties["code"]["type"] == "integer" and isinstance(body["code"], int)
    assert properties["message"]["type"] == "string" and isinstance(body["message"], str)
    if "errors" in body:
        per_field = properties["errors"]["additionalProperties"]
        assert per_field == {"type": "array", "items": {"type": "string"}}
        for messages in body["errors"].values():
            assert isinstance(messages, list) and all(isinstance(m, str) for m in messages)
    assert ErrorSchema().load(body) == body


def test_real_422_and_404_bodies_are_what_the_openapi_document_describes(
    tmp_path: Path, sqlite_url: str
) -> None:
    client = create_survey_app(make_settings(tmp_path, sqlite_url)).test_client()
    admin = {"Authorization": f"Bearer {create_token(sqlite_url, 'edge-admin', 'admin')}"}
    documented = _documented_error_schema(client)

    invalid = client.post("/v1/admin/surveys", json={"key": "Bad Key!"}, headers=admin)
    assert invalid.status_code == 422 and invalid.get_json()["errors"]
    _matches(invalid.get_json(), documented)

    missing = client.get("/v1/admin/surveys/no-such-survey", headers=admin)
    assert missing.status_code == 404
    assert missing.get_json() == {"code": 404, "message": "No survey has this key."}
    _matches(missing.get_json(), documented)

    # Every documented error answer of the API points at that one schema.
    paths = client.get("/openapi.json").get_json()["paths"]
    referenced = {
        response["content"]["application/json"]["schema"]["$ref"]
        for operations in paths.values()
        for operation in operations.values()
        if isinstance(operation, dict) and "responses" in operation
        for code, response in operation["responses"].items()
        if code in {"401", "403", "404", "409"} and "content" in response
    }
    assert referenced == {"#/components/schemas/Error"}


def test_domain_refusals_become_status_codes_with_the_one_body(edge_client: FlaskClient) -> None:
    documented = _documented_error_schema(edge_client)
    invalid = edge_client.get("/edges/invalid")
    assert invalid.status_code == 422
    assert invalid.get_json() == {
        "code": 422,
        "message": "Status must be one of open, resolved.",
        "errors": {"status": ["Status must be one of open, resolved."]},
    }
    # A use case that cannot word its refusal leaves it to the view.
    unworded = edge_client.get("/edges/unworded")
    assert unworded.status_code == 409
    assert unworded.get_json() == {
        "code": 409,
        "message": "This key is taken.",
        "errors": {"key": ["Already used."]},
    }
    # A use case's own words win over the view's documented summary.
    worded = edge_client.get("/edges/worded")
    assert worded.status_code == 404
    assert worded.get_json() == {
        "code": 404,
        "message": "No thing 'x'.",
        "errors": {"id": ["No thing 'x'."]},
    }
    for answer in (invalid, unworded, worded):
        _matches(answer.get_json(), documented)
    operations = edge_client.get("/openapi.json").get_json()["paths"]
    assert operations["/edges/unworded"]["get"]["responses"]["409"]["description"] == (
        "This key is taken."
    )


def test_auth_challenges_refuses_and_admits_by_role(
    edge_client: FlaskClient, sqlite_url: str
) -> None:
    missing = edge_client.get("/edges/secret")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == CHALLENGE
    assert missing.get_json()["errors"] == {"Authorization": ["Missing bearer token."]}

    unknown = edge_client.get("/edges/secret", headers={"Authorization": "Bearer kr_nope"})
    assert unknown.status_code == 401
    assert unknown.headers["WWW-Authenticate"] == CHALLENGE
    assert unknown.get_json()["message"] == "The token is not valid."

    support = create_token(sqlite_url, "agent", "support")
    refused = edge_client.get("/edges/secret", headers={"Authorization": f"Bearer {support}"})
    assert refused.status_code == 403
    assert "WWW-Authenticate" not in refused.headers
    assert refused.get_json()["message"] == "This needs the admin role."

    admin = create_token(sqlite_url, "boss", "admin")
    admitted = edge_client.get("/edges/secret", headers={"Authorization": f"Bearer {admin}"})
    assert admitted.status_code == 200
    assert admitted.get_json() == {"principal": "boss", "role": "admin"}


def test_auth_documents_the_security_requirement_and_both_refusals(
    edge_client: FlaskClient,
) -> None:
    operation = edge_client.get("/openapi.json").get_json()["paths"]["/edges/secret"]["get"]
    assert operation["security"] == [{"bearer": []}]
    responses = operation["responses"]
    assert set(responses) >= {"401", "403"}
    assert "WWW-Authenticate" in responses["401"]["headers"]
    for code in ("401", "403"):
        schema = responses[code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}


def test_settings_live_in_the_extension(tmp_path: Path, sqlite_url: str) -> None:
    app = _edge_app(tmp_path, sqlite_url)
    extension = app.extensions[EXTENSION]
    assert isinstance(extension, KundresaExtension)
    with app.test_request_context():
        assert current_settings() is extension.settings
        assert current_settings().database_url == sqlite_url


def test_a_request_has_one_database_session_closed_when_it_ends(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _edge_app(tmp_path, sqlite_url)
    closed: list[Session] = []
    original_close = Session.close

    def recording_close(self: Session) -> None:
        closed.append(self)
        original_close(self)

    monkeypatch.setattr(Session, "close", recording_close)
    answer = app.test_client().get("/edges/sessions")
    assert answer.get_json() == {"same": True}
    assert app.config["SEEN"]["session"] in closed
    # A request that never asks for one opens none.
    closed.clear()
    app.test_client().get("/edges/invalid")
    assert closed == []
