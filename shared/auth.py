"""API tokens and roles, shared by both services.

Tokens are random, shown once, and stored only as a SHA-256 hash: a leaked database does not
leak a usable token. Roles: ``admin`` may do everything, ``support`` reads and manages
follow-ups, ``ingest`` may only send data.

Each process remembers a live token it has looked up for ``TOKEN_CACHE_SECONDS`` (keyed by the
token's hash), so a request does not wait on a query. A token revoked elsewhere (the CLI, another
worker) therefore keeps working in a process for at most that long; a revocation in the same
process takes effect at once. Unknown tokens are never remembered: a new token works at once.

Views say which role they need with ``@auth(role)``, which also documents the bearer security
requirement and the 401/403 answers in the OpenAPI document.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from flask import g, request
from flask_smorest import Blueprint, abort
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.cache import TimedCache
from shared.db.session import session_scope
from shared.db.tables import ApiToken, Site
from shared.identity_signature import new_identity_secret
from shared.web import RESPONSE_DOCS, ErrorSchema, db_session

ROLES: tuple[str, ...] = ("admin", "support", "ingest")
# What each role may also do: admin can act as support and ingest.
ROLE_GRANTS: dict[str, set[str]] = {
    "admin": {"admin", "support", "ingest"},
    "support": {"support"},
    "ingest": {"ingest"},
}


TOKEN_CACHE_SECONDS = 30.0
TOKEN_CACHE_ENTRIES = 4096


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "kr_" + secrets.token_urlsafe(32)


def new_site_key() -> str:
    return "pk_" + secrets.token_urlsafe(18)


def create_token(database_url: str, name: str, role: str) -> str:
    """Store a new token's hash and return the token itself (the only time it is seen)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = new_token()
    with session_scope(database_url) as session:
        session.add(ApiToken(name=name, role=role, token_hash=hash_token(token), prefix=token[:7]))
    return token


def revoke_token(database_url: str, prefix_or_name: str) -> int:
    """Revoke tokens by name or by their shown prefix; returns how many were revoked."""
    with session_scope(database_url) as session:
        result = session.execute(
            update(ApiToken)
            .where(
                (ApiToken.name == prefix_or_name) | (ApiToken.prefix == prefix_or_name),
                ApiToken.revoked_at.is_(None),
            )
            .values(revoked_at=datetime.now(UTC))
        )
        count = result.rowcount or 0
    TOKENS.clear()
    return count


def token_role(session: Session, token: str) -> tuple[str, str] | None:
    """(name, role) of a live token, or None; always asks the database."""
    return _stored_role(session, hash_token(token))


def _stored_role(session: Session, digest: str) -> tuple[str, str] | None:
    row = session.execute(
        select(ApiToken.name, ApiToken.role, ApiToken.token_hash).where(
            ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None)
        )
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row.name, row.role


class TokenCache:
    """The (name, role) of live tokens looked up recently, by database and token hash, each
    kept ``seconds`` after its lookup (a ``shared.cache.TimedCache`` that keeps no misses)."""

    def __init__(
        self,
        seconds: float = TOKEN_CACHE_SECONDS,
        max_entries: int = TOKEN_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._found = TimedCache(seconds, size=max_entries, keep_none=False, clock=clock)

    def role(self, session: Session, token: str) -> tuple[str, str] | None:
        """(name, role) of a live token, from memory while fresh, else from ``session``'s
        database."""
        digest = hash_token(token)
        key = (session.get_bind().url, digest)
        return self._found.get(key, lambda: _stored_role(session, digest))

    def clear(self) -> None:
        self._found.clear()

    def __len__(self) -> int:
        return len(self._found)


# One per process: what ``auth`` asks.
TOKENS = TokenCache()

BEARER_SECURITY = [{"bearer": []}]
# RFC 9110: a 401 names the scheme that would be accepted.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="kundresa"'}


def auth(role: str) -> Callable:
    """Decorator for views: a bearer token whose role grants ``role``, else 401 (with a
    ``WWW-Authenticate`` challenge) or 403; documents the requirement and both answers."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            authorise(role)
            return view(*args, **kwargs)

        documented = Blueprint.doc(security=BEARER_SECURITY)(wrapped)
        documented = RESPONSE_DOCS.alt_response(
            403, schema=ErrorSchema, description="The token's role may not do this."
        )(documented)
        return RESPONSE_DOCS.alt_response(
            401,
            schema=ErrorSchema,
            description="No or an unknown token.",
            headers={
                "WWW-Authenticate": {
                    "description": "The scheme to authenticate with.",
                    "schema": {"type": "string"},
                }
            },
        )(documented)

    return decorator


def authorise(role: str) -> None:
    """Set ``g.principal`` and ``g.role`` from the request's token, or abort."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(
            401,
            message="A bearer token is required.",
            errors={"Authorization": ["Missing bearer token."]},
            headers=CHALLENGE,
        )
    found = TOKENS.role(db_session(), token.strip())
    if found is None:
        abort(
            401,
            message="The token is not valid.",
            errors={"Authorization": ["Unknown or revoked token."]},
            headers=CHALLENGE,
        )
    name, granted = found
    if role not in ROLE_GRANTS[granted]:
        abort(
            403,
            message=f"This needs the {role} role.",
            errors={"Authorization": [f"Role {granted} may not do this."]},
        )
    g.principal = name
    g.role = granted


def create_site(
    database_url: str, name: str, origins: list[str], *, require_identity_signature: bool = True
) -> str:
    """Register a web shop and return its publishable site key. The site gets an identity
    secret (``shared.identity_signature``) and, unless told otherwise, refuses customer ids
    from browsers that its server has not signed."""
    key = new_site_key()
    with session_scope(database_url) as session:
        session.add(
            Site(
                name=name,
                site_key=key,
                allowed_origins=origins,
                identity_secret=new_identity_secret(),
                require_identity_signature=require_identity_signature,
            )
        )
    return key
