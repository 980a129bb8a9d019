"""What the fuzz tests of both services share: hypothesis settings, arbitrary JSON, and the
check that no operation of an app's /openapi.json answers 500."""

from __future__ import annotations

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

FUZZ = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def assert_no_operation_answers_500(
    app: Flask, headers: dict[str, str], at_least: int, examples: int
) -> None:
    """schemathesis drives every operation with valid and invalid data, ``examples`` each."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= at_least
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(FUZZ, max_examples=examples)
            @given(case=operation.as_strategy(generation_mode=mode))
            def answers_without_500(case) -> None:  # noqa: ANN001
                response = case.call(headers={**(case.headers or {}), **headers})
                assert response.status_code < 500, (case.method, case.path, response.text)

            answers_without_500()


def assert_document_matches_server(app: Flask, headers: dict[str, str], examples: int) -> None:
    """The document is as strict as the server, and the server keeps to the document: what the
    document calls invalid is refused, every status and body answered is documented. (Valid
    data may still be refused where the rule needs data, a survey key that exists, or where
    OpenAPI 3.0 cannot say it, the keys of a dict; so that direction is not asserted.)"""
    from schemathesis.specs.openapi import checks

    conformance = [
        checks.negative_data_rejection,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
        checks.response_headers_conformance,
    ]
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(FUZZ, max_examples=examples)
            @given(case=operation.as_strategy(generation_mode=mode))
            def keeps_to_the_document(case) -> None:  # noqa: ANN001
                case.call_and_validate(
                    headers={**(case.headers or {}), **headers}, checks=conformance
                )

            keeps_to_the_document()
