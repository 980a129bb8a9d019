"""Webhook endpoints: what the admin API and the dashboard do with them.

A new endpoint's secret is returned once, by ``create_endpoint`` (and by ``update_endpoint``
when asked to rotate it); afterwards only its hint is ever shown.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.db.session import session_scope
from shared.db.tables import WebhookDelivery, WebhookEndpoint
from shared.errors import Invalid, NotFound
from shared.outbox import EVENTS
from shared.settings import Settings
from shared.webhooks import secrets
from shared.webhooks.addresses import AddressRefused, resolve

NO_ENDPOINT = "No webhook endpoint has this id."
ENDPOINT_FIELDS = (
    "id",
    "url",
    "events",
    "description",
    "active",
    "secret_hint",
    "created_by",
    "created_at",
    "updated_at",
)


def as_dict(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {name: getattr(endpoint, name) for name in ENDPOINT_FIELDS}


def check_url(settings: Settings, url: str) -> None:
    """Invalid naming ``url`` unless webhooks may be sent there now."""
    try:
        resolve(url, settings.webhooks_allow_private)
    except AddressRefused as refusal:
        raise Invalid(str(refusal), field="url") from refusal


def _check_events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in EVENTS]
    if unknown or not events:
        raise Invalid(f"Choose one or more of: {', '.join(EVENTS)}.", field="events")
    return sorted(set(events), key=EVENTS.index)


def create_endpoint(
    settings: Settings,
    *,
    url: str,
    events: list[str],
    created_by: str,
    description: str | None = None,
    active: bool = True,
) -> tuple[dict[str, Any], str]:
    """Register an endpoint; returns it and its secret (the only time the secret is seen)."""
    events = _check_events(events)
    check_url(settings, url)
    secret = secrets.new_secret()
    with session_scope(settings.database_url) as session:
        endpoint = WebhookEndpoint(
            url=url,
            events=events,
            description=description or None,
            secret_encrypted=secrets.encrypt(settings.secret_key, secret),
            secret_hint=secrets.hint(secret),
            active=active,
            created_by=created_by,
        )
        session.add(endpoint)
        session.flush()
        return as_dict(endpoint), secret


def list_endpoints(database_url: str) -> list[dict[str, Any]]:
    with session_scope(database_url) as session:
        found = session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
        return [as_dict(e) for e in found]


def _endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(NO_ENDPOINT)
    return endpoint


def get_endpoint(database_url: str, endpoint_id: int) -> dict[str, Any]:
    with session_scope(database_url) as session:
        return as_dict(_endpoint(session, endpoint_id))


def update_endpoint(
    settings: Settings, endpoint_id: int, patch: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """Change url, events, description or active; ``rotate_secret`` makes a new secret, which
    is returned (once). Deliveries still pending are signed with the new secret."""
    patch = dict(patch)
    rotate = patch.pop("rotate_secret", False)
    if "events" in patch:
        patch["events"] = _check_events(patch["events"])
    if "url" in patch:
        check_url(settings, patch["url"])
    secret = secrets.new_secret() if rotate else None
    with session_scope(settings.database_url) as session:
        endpoint = _endpoint(session, endpoint_id)
        for name, value in patch.items():
            setattr(endpoint, name, value)
        if secret is not None:
            endpoint.secret_encrypted = secrets.encrypt(settings.secret_key, secret)
            endpoint.secret_hint = secrets.hint(secret)
        session.flush()
        return as_dict(endpoint), secret


def delete_endpoint(database_url: str, endpoint_id: int) -> None:
    """Remove an endpoint and its deliveries (the database cascades)."""
    with session_scope(database_url) as session:
        endpoint = _endpoint(session, endpoint_id)
        # Explicitly too: a SQLite connection made without foreign keys would not cascade.
        session.query(WebhookDelivery).filter(WebhookDelivery.endpoint_id == endpoint_id).delete()
        session.delete(endpoint)
