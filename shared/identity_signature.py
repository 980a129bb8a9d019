"""Verified identity: a shop's server vouches for a customer id with an HMAC its browser cannot
forge.

Each site has an identity secret that only the shop's server and Kundresa know. The shop signs
the signed-in customer's id (``hex(HMAC-SHA256(secret, customer_id))``, as in-app messaging
tools do) and hands the signature to its page; a public call naming that customer sends it in
``X-Identity-Signature``. The secret must be kept to verify, so it is stored as is: it is never
logged, never in a repr, and shown only when it is made (``kundresa sites create`` or
``kundresa sites rotate-secret``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select, update

from shared.db.session import session_scope
from shared.db.tables import Site

SIGNATURE_HEADER = "X-Identity-Signature"


def new_identity_secret() -> str:
    return "is_" + secrets.token_urlsafe(32)


def sign_customer_id(secret: str, customer_id: str) -> str:
    """What the shop's server computes and gives its page for the signed-in customer."""
    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


def is_valid_signature(secret: str | None, customer_id: str, signature: str | None) -> bool:
    """True when ``signature`` is the site's signature of ``customer_id`` (constant time)."""
    if not secret or not signature:
        return False
    expected = sign_customer_id(secret, customer_id)
    return hmac.compare_digest(expected, signature.strip().lower())


def identity_secret(database_url: str, site_key: str) -> str | None:
    """The identity secret of the site with this key, for the shop's own server side (the
    demo shop, the CLI right after creating a site)."""
    with session_scope(database_url) as session:
        return session.scalar(select(Site.identity_secret).where(Site.site_key == site_key))


def rotate_identity_secret(
    database_url: str, site_name: str, require: bool | None = None
) -> str | None:
    """Give the site named ``site_name`` a new identity secret and return it (None when no
    such site); signatures made with the old secret stop working at once. ``require`` sets
    whether the site refuses unsigned customer ids; None leaves it as it is."""
    secret = new_identity_secret()
    values: dict[str, object] = {"identity_secret": secret}
    if require is not None:
        values["require_identity_signature"] = require
    with session_scope(database_url) as session:
        result = session.execute(update(Site).where(Site.name == site_name).values(**values))
        if not result.rowcount:
            return None
    return secret
