"""No input produces a 500 from the model service: schemathesis drives every operation of its
/openapi.json, and hypothesis sends prediction records with any JSON in any field (the compiled
model and the pipeline both must turn them into a 4xx that names the field, or an answer)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.auth import create_token
from tests.fuzzing import (
    FUZZ,
    assert_document_matches_server,
    assert_no_operation_answers_500,
    json_values,
)
from tests.model_service.conftest import Trained, auth

# Besides arbitrary JSON: what a number column must also survive.
awkward_values = json_values | st.sampled_from(
    [1e308, -1e308, 2**63, "NaN", "Infinity", "", "\x00"]
)
MORE = settings(FUZZ, max_examples=25)


@pytest.fixture(scope="module")
def fuzz_target(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from model_service.app import create_app

    folder: Path = tmp_path_factory.mktemp("model-fuzz")
    app = create_app(trained.settings(folder), start_polling=False)
    app.testing = True
    records = {}
    for task, path in (("brand_switch", "brand-switch"), ("cart_abandonment", "cart-abandonment")):
        dataset = trained.datasets[task]
        rows = dataset.evaluation[dataset.features].head(1)
        records[path] = json.loads(rows.to_json(orient="records"))[0]
    headers = auth(create_token(trained.database_url, "fuzzer", "admin"))
    yield {"app": app, "records": records, "headers": headers}
    app.extensions["kundresa_models"].stop_polling()


def test_no_operation_of_the_openapi_document_answers_500(fuzz_target: dict) -> None:
    assert_no_operation_answers_500(
        fuzz_target["app"], fuzz_target["headers"], at_least=6, examples=4
    )


def test_the_openapi_document_is_as_strict_as_the_server(fuzz_target: dict) -> None:
    assert_document_matches_server(fuzz_target["app"], fuzz_target["headers"], examples=5)


@MORE
@given(
    path=st.sampled_from(["brand-switch", "cart-abandonment"]),
    changes=st.dictionaries(st.text(max_size=25), awkward_values, max_size=3),
    spoil_known=st.data(),
)
def test_records_with_any_value_in_any_field_never_answer_500(
    fuzz_target: dict, path: str, changes: dict, spoil_known
) -> None:
    record = dict(fuzz_target["records"][path])
    # A known feature spoiled with any JSON, and perhaps unknown fields besides.
    field = spoil_known.draw(st.sampled_from(sorted(record)))
    record[field] = spoil_known.draw(awkward_values)
    record.update(changes)
    client = fuzz_target["app"].test_client()
    answer = client.post(
        f"/v1/predict/{path}", json={"records": [record]}, headers=fuzz_target["headers"]
    )
    assert answer.status_code < 500, answer.get_json()
    if answer.status_code >= 400:
        assert answer.get_json()["errors"], "a refusal names the field"


@MORE
@given(body=awkward_values | st.fixed_dictionaries({"customer_ids": awkward_values}))
def test_any_json_body_never_answers_500(fuzz_target: dict, body: object) -> None:
    client = fuzz_target["app"].test_client()
    for path in ("brand-switch", "cart-abandonment"):
        answer = client.post(
            f"/v1/predict/{path}",
            data=json.dumps(body),
            headers={**fuzz_target["headers"], "Content-Type": "application/json"},
        )
        assert answer.status_code < 500, answer.get_json()
