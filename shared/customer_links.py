"""The link from Kundresa into a shop's own admin page of a customer.

A site keeps a template such as ``https://shop.example/admin/customers/{id}``; the customer id
is URL-encoded into ``{id}`` (an id may hold ``/``, ``?`` or spaces, none of which may turn
the link into another page). Only http(s) templates are accepted: a ``javascript:`` link
shown to a support agent would run in the dashboard.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from shared.errors import Invalid

PLACEHOLDER = "{id}"
MAX_LENGTH = 500


def check_external_url(template: str) -> str:
    """The template, stripped; Invalid (field ``external_url``) when it is not an absolute
    http(s) URL with a host and exactly one ``{id}``."""
    text = (template or "").strip()
    if not text or len(text) > MAX_LENGTH:
        raise Invalid(
            f"Give an http(s) URL of at most {MAX_LENGTH} characters.", field="external_url"
        )
    parts = urlsplit(text.replace(PLACEHOLDER, "id"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid(
            "The URL must start with http:// or https:// and name a host.", field="external_url"
        )
    if text.count(PLACEHOLDER) != 1:
        raise Invalid("The URL must contain {id} exactly once.", field="external_url")
    if any(ch.isspace() for ch in text):
        raise Invalid("The URL must not contain spaces.", field="external_url")
    return text


def external_link(template: str | None, customer_id: str) -> str | None:
    """The shop's page of ``customer_id`` (None without a template)."""
    if not template:
        return None
    return template.replace(PLACEHOLDER, quote(customer_id, safe=""))
