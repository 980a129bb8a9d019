"""What the OpenAPI document says beyond what flask-smorest derives from the schemas, so that
it is as strict as the server: schema-level rules, dict sizes, and the answers every operation
may give (503 while the database is unreachable, 415 for a body that is not JSON, 429 where a
rate limit applies), each with the one error body (``shared.web.ErrorSchema``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apispec import BasePlugin
from apispec.ext.marshmallow.common import resolve_schema_instance
from marshmallow import RAISE, fields

ERROR_REF = {"$ref": "#/components/schemas/Error"}
RETRY_AFTER = {"Retry-After": "Seconds to wait before retrying."}


class SchemaRulesPlugin(BasePlugin):
    """Puts into the OpenAPI document what a request schema checks beyond its fields:
    ``Meta.openapi`` (e.g. ``anyOf`` for "send visitor_id, customer_id or both"), and
    ``additionalProperties: false`` for every schema that refuses unknown fields (apispec leaves
    it out when the schema's Meta has a description)."""

    def schema_helper(self, name: str, definition: dict, **kwargs: Any) -> dict | None:
        schema = kwargs.get("schema")
        if schema is None:
            return None
        instance = resolve_schema_instance(schema)
        extra: dict[str, Any] = {}
        if instance.unknown == RAISE:
            extra["additionalProperties"] = False
        extra.update(getattr(instance.Meta, "openapi", {}))
        return extra


def dict_size(_converter: Any, field: fields.Field, ret: dict, **_kwargs: Any) -> dict:
    """A Length on a Dict counts its keys: apispec writes minLength/maxLength, which JSON
    Schema ignores for objects; say minProperties/maxProperties instead."""
    if isinstance(field, fields.Dict):
        for length, properties in (("minLength", "minProperties"), ("maxLength", "maxProperties")):
            if length in ret:
                ret[properties] = ret.pop(length)
    return {}


def error_doc(description: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if headers:
        doc["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return doc


def document_edges(
    doc: dict[str, Any], _doc_info: Any, *, api: Any, **_kwargs: Any
) -> dict[str, Any]:
    """Every operation may find the database unreachable (503), one with a JSON body refuses
    other content types (415), and one of a rate-limited blueprint may say slow down (429)."""
    responses = doc.setdefault("responses", {})
    if getattr(api, "documenting_rate_limit", False):
        responses.setdefault(
            "429",
            error_doc(
                "Too many requests; retry after Retry-After seconds.",
                RETRY_AFTER,
            ),
        )
    responses.setdefault(
        "503",
        error_doc(
            "The database is unreachable for now; retry after Retry-After seconds.",
            RETRY_AFTER,
        ),
    )
    if "application/json" in doc.get("requestBody", {}).get("content", {}):
        responses.setdefault("415", error_doc("The body is not JSON."))
    return doc
