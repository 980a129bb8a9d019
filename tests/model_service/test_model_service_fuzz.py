"""No input produces a 500 from the model service: schemathesis drives every operation of its
/openapi.json, and hypothesis sends prediction records with any JSON in any field (the compiled
model and the pipeline both must turn them into a 4xx that names the field, or an answer)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from shared.auth import create_token
from tests.model_service.conftest import Trained, auth

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from([1e308, -1e308, 2**63, "NaN", "Infinity", "", "\x00"])
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


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
    app = fuzz_target["app"]
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(FUZZ, max_examples=4)
            @given(case=operation.as_strategy(generation_mode=mode))
            def answers_without_500(case) -> None:  # noqa: ANN001
                response = case.call(headers={**(case.headers or {}), **fuzz_target["headers"]})
                assert response.status_code < 500, (case.method, case.path, response.text)

            answers_without_500()


@FUZZ
@given(
    path=st.sampled_from(["brand-switch", "cart-abandonment"]),
    changes=st.dictionaries(st.text(max_size=25), json_values, max_size=3),
    spoil_known=st.data(),
)
def test_records_with_any_value_in_any_field_never_answer_500(
    fuzz_target: dict, path: str, changes: dict, spoil_known
) -> None:
    record = dict(fuzz_target["records"][path])
    # A known feature spoiled with any JSON, and perhaps unknown fields besides.
    field = spoil_known.draw(st.sampled_from(sorted(record)))
    record[field] = spoil_known.draw(json_values)
    record.update(changes)
    client = fuzz_target["app"].test_client()
    answer = client.post(
        f"/v1/predict/{path}", json={"records": [record]}, headers=fuzz_target["headers"]
    )
    assert answer.status_code < 500, answer.get_json()
    if answer.status_code >= 400:
        assert answer.get_json()["errors"], "a refusal names the field"


@FUZZ
@given(body=json_values | st.fixed_dictionaries({"customer_ids": json_values}))
def test_any_json_body_never_answers_500(fuzz_target: dict, body: object) -> None:
    client = fuzz_target["app"].test_client()
    for path in ("brand-switch", "cart-abandonment"):
        answer = client.post(
            f"/v1/predict/{path}",
            data=json.dumps(body),
            headers={**fuzz_target["headers"], "Content-Type": "application/json"},
        )
        assert answer.status_code < 500, answer.get_json()
