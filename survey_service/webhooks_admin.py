"""The admin API for webhooks: endpoints (the secret is shown once), deliveries, re-sending."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g

from shared.auth import auth
from shared.errors import NotFound
from shared.schemas.fields import MAX_INT
from shared.schemas.webhooks import (
    DeliveryListSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    EndpointCreateSchema,
    EndpointListSchema,
    EndpointPatchSchema,
    EndpointSchema,
    EndpointWithSecretSchema,
)
from shared.web import StrictBlueprint, current_settings, refuses
from shared.webhooks import deliveries, endpoints

blp = StrictBlueprint(
    "webhooks",
    __name__,
    url_prefix="/v1/admin/webhooks",
    description="Webhook endpoints and their deliveries (admin tokens).",
)


def _id(value: int, message: str) -> int:
    # Larger than an INTEGER column holds: nothing has it (and PostgreSQL would refuse it).
    if value > MAX_INT:
        raise NotFound(message)
    return value


@blp.route("/endpoints", methods=["POST"])
@blp.arguments(EndpointCreateSchema())
@blp.response(201, EndpointWithSecretSchema)
@auth("admin")
def create_endpoint(data: dict):
    """Register an endpoint. The answer holds its signing secret: the only time it is shown."""
    endpoint, secret = endpoints.create_endpoint(current_settings(), created_by=g.principal, **data)
    return {**endpoint, "secret": secret}


@blp.route("/endpoints", methods=["GET"])
@blp.response(200, EndpointListSchema)
@auth("admin")
def list_endpoints():
    """Every endpoint, with its secret's hint only."""
    return {"items": endpoints.list_endpoints(current_settings().database_url)}


@blp.route("/endpoints/<int:endpoint_id>", methods=["GET"])
@blp.response(200, EndpointSchema)
@refuses(NotFound, endpoints.NO_ENDPOINT)
@auth("admin")
def get_endpoint(endpoint_id: int):
    """One endpoint."""
    return endpoints.get_endpoint(
        current_settings().database_url, _id(endpoint_id, endpoints.NO_ENDPOINT)
    )


@blp.route("/endpoints/<int:endpoint_id>", methods=["PATCH"])
@blp.arguments(EndpointPatchSchema())
@blp.response(200, EndpointWithSecretSchema)
@refuses(NotFound, endpoints.NO_ENDPOINT)
@auth("admin")
def update_endpoint(patch: dict, endpoint_id: int):
    """Change the URL, events, description or active flag; ``rotate_secret`` makes a new
    secret, shown in this answer once."""
    endpoint, secret = endpoints.update_endpoint(
        current_settings(), _id(endpoint_id, endpoints.NO_ENDPOINT), patch
    )
    return {**endpoint, "secret": secret}


@blp.route("/endpoints/<int:endpoint_id>", methods=["DELETE"])
@blp.response(204)
@refuses(NotFound, endpoints.NO_ENDPOINT)
@auth("admin")
def delete_endpoint(endpoint_id: int):
    """Remove an endpoint and its deliveries."""
    endpoints.delete_endpoint(
        current_settings().database_url, _id(endpoint_id, endpoints.NO_ENDPOINT)
    )


@blp.route("/deliveries", methods=["GET"])
@blp.arguments(DeliveryQuerySchema(), location="query")
@blp.response(200, DeliveryListSchema)
@auth("admin")
def list_deliveries(query: dict):
    """Deliveries, newest first, by status and endpoint."""
    items, total = deliveries.list_deliveries(current_settings().database_url, **query)
    return {"items": items, "total": total, "limit": query["limit"], "offset": query["offset"]}


@blp.route("/deliveries/<int:delivery_id>/resend", methods=["POST"])
@blp.response(200, DeliverySchema)
@refuses(NotFound, deliveries.NO_DELIVERY)
@auth("admin")
def resend_delivery(delivery_id: int):
    """Send a delivery again (its id stays, so a receiver that had it can tell)."""
    return deliveries.resend(
        current_settings().database_url,
        _id(delivery_id, deliveries.NO_DELIVERY),
        datetime.now(UTC),
    )
