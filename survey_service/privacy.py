"""Privacy requests (admin): everything held about a customer, and erasure."""

from __future__ import annotations

from flask import g

from shared.auth import auth
from shared.errors import NotFound
from shared.schemas.fields import is_storable_text
from shared.schemas.privacy import CustomerExportSchema, ErasureSchema
from shared.web import StrictBlueprint, current_settings, refuses
from survey_service import customer_data

blp = StrictBlueprint(
    "privacy",
    __name__,
    url_prefix="/v1/admin/customers",
    description="Export and erase one customer's data (logged in privacy_requests).",
)
NOTHING_HELD = "Nothing is held about this customer."


def _customer_id(value: str) -> str:
    # Nothing is stored under an id the schemas would refuse, so such an id holds nothing.
    if len(value) > 64 or not is_storable_text(value):
        raise NotFound(NOTHING_HELD)
    return value


@blp.route("/<customer_id>/export", methods=["GET"])
@blp.response(200, CustomerExportSchema)
@refuses(NotFound, NOTHING_HELD)
@auth("admin")
def export_customer(customer_id: str):
    """Everything held about one customer (profile, identities, events, responses, offers,
    risk scores, follow-ups) as JSON."""
    return customer_data.export_customer(current_settings(), _customer_id(customer_id), g.principal)


@blp.route("/<customer_id>", methods=["DELETE"])
@blp.response(200, ErasureSchema)
@auth("admin")
def erase_customer(customer_id: str):
    """Erase a customer: events, identities, offers, risk scores and follow-ups are deleted;
    responses are anonymised (scores kept, ids and free text gone) so aggregates stay right.
    Erasing again is harmless and answers zero counts."""
    return customer_data.erase_customer(current_settings(), _customer_id(customer_id), g.principal)
