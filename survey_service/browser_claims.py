"""What a browser may claim on a site's behalf, and what only the shop's back office may.

A browser is anyone who holds the public site key, so it may speak only for its own anonymous
visitor: no money moved (purchases, refunds) and no back-office facts (an abandoned cart, a
support contact), and a customer id only with the signature the shop's server made for it
(``shared.identity_signature``). A back-office call (``access.is_back_office``) is not checked
here. Refusals are 403s that name the culprit field or header.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import request
from flask_smorest import abort

from shared.identity_signature import SIGNATURE_HEADER, is_valid_signature
from shared.schemas.events import BACK_OFFICE_EVENT_TYPES
from survey_service.lookups import SiteInfo

# sendBeacon sets no headers: the signature may come in the query, like the site key.
SIGNATURE_QUERY = "identity_signature"


def presented_signature() -> str | None:
    signature = request.headers.get(SIGNATURE_HEADER) or request.args.get(SIGNATURE_QUERY)
    return signature.strip() if signature else None


def customer_is_signed(site: SiteInfo, customer_id: str, field: str) -> bool:
    """True when the call carries a valid signature of ``customer_id``; False when it carries
    none and the site accepts unsigned customer ids. A forged signature, or none where the
    site requires one, is refused (403 naming the header and ``field``)."""
    signature = presented_signature()
    if is_valid_signature(site.identity_secret, customer_id, signature):
        return True
    if signature is None and not site.require_identity_signature:
        return False
    problem = "is not valid" if signature else "is missing"
    abort(
        403,
        message=f"A customer id from a browser needs the shop's identity signature; it {problem}.",
        errors={SIGNATURE_HEADER: [f"Missing or not valid for {field}."]},
    )


def check_events(site: SiteInfo, events: Sequence[Mapping[str, Any]]) -> None:
    """A browser's batch: one visitor's events, no back-office event types, and customer ids
    only as signed."""
    visitor = None
    for index, event in enumerate(events):
        if event["type"] in BACK_OFFICE_EVENT_TYPES:
            abort(
                403,
                message="Only the shop's server (with an ingest token) may send this event type.",
                errors={f"events.{index}.type": [f"{event['type']} needs an ingest token."]},
            )
        if event.get("visitor_id"):
            if visitor is not None and event["visitor_id"] != visitor:
                abort(
                    403,
                    message="A browser sends the events of its own visitor only.",
                    errors={f"events.{index}.visitor_id": ["Another visitor than the batch's."]},
                )
            visitor = event["visitor_id"]
        if event.get("customer_id"):
            customer_is_signed(site, event["customer_id"], f"events.{index}.customer_id")


def check_response(site: SiteInfo, data: Mapping[str, Any]) -> None:
    """A browser's survey answer names a customer only as signed."""
    if data.get("customer_id"):
        customer_is_signed(site, data["customer_id"], "customer_id")
