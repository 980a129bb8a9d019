"""No input produces a 500: schemathesis drives every operation of /openapi.json with valid
and invalid data, and hypothesis throws arbitrary JSON at the public endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from shared.auth import create_site, create_token
from shared.db.session import dispose_engines
from survey_service.app import create_app
from tests.conftest import make_settings, make_sqlite_url
from tests.fuzzing import (
    FUZZ,
    assert_document_matches_server,
    assert_no_operation_answers_500,
    json_values,
)
from tests.survey_service.conftest import ORIGIN, post_purchase_body


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One app on SQLite for all fuzzing, with a site key and an admin token."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    url = make_sqlite_url(folder)
    app = create_app(make_settings(folder, url, rate_limit_public="1000000/minute"))
    headers = {
        "X-Site-Key": create_site(url, "Fuzz shop", [ORIGIN]),
        "Authorization": f"Bearer {create_token(url, 'fuzz', 'admin')}",
    }
    yield {"app": app, "headers": headers}
    dispose_engines()


def test_no_operation_of_the_openapi_document_answers_500(fuzz_target: dict) -> None:
    assert_no_operation_answers_500(
        fuzz_target["app"], fuzz_target["headers"], at_least=12, examples=5
    )


def test_the_openapi_document_is_as_strict_as_the_server(fuzz_target: dict) -> None:
    assert_document_matches_server(fuzz_target["app"], fuzz_target["headers"], examples=5)


@FUZZ
@given(
    path=st.sampled_from(["/v1/responses", "/v1/events", "/v1/identify"]),
    body=json_values
    | st.fixed_dictionaries(
        {
            "events": st.lists(
                st.dictionaries(
                    st.sampled_from(
                        [
                            "event_id",
                            "type",
                            "visitor_id",
                            "occurred_at",
                            "value",
                            "properties",
                            "stage",
                        ]
                    ),
                    json_values,
                ),
                max_size=3,
            )
        }
    )
    | st.builds(
        lambda answers, extra: {**post_purchase_body(answers=answers), **extra},
        st.dictionaries(st.sampled_from(["csat", "ces", "nps", "comment", "x"]), json_values),
        st.dictionaries(st.sampled_from(["stage", "locale", "website", "visitor_id"]), json_values),
    ),
    content_type=st.sampled_from(["application/json", "text/plain"]),
)
def test_arbitrary_json_never_answers_500(
    fuzz_target: dict, path: str, body: object, content_type: str
) -> None:
    client: FlaskClient = fuzz_target["app"].test_client()
    data = json.dumps(body)
    answer = client.post(
        path, data=data, headers={**fuzz_target["headers"], "Content-Type": content_type}
    )
    assert answer.status_code < 500, answer.json
    assert "code" in answer.json or answer.status_code in (200, 201, 202)


@FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_broken_bodies_never_answer_500(fuzz_target: dict, raw: bytes) -> None:
    client: FlaskClient = fuzz_target["app"].test_client()
    answer = client.post(
        "/v1/events", data=raw, headers={**fuzz_target["headers"], "Content-Type": "text/plain"}
    )
    assert answer.status_code in (400, 422)
