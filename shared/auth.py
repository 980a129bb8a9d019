"""API tokens and roles, shared by both services.

Tokens are random, shown once, and stored only as a SHA-256 hash: a leaked database does not
leak a usable token. Roles: ``admin`` may do everything, ``support`` reads and manages
follow-ups, ``ingest`` may only send data.

Each process remembers a live token it has looked up for ``TOKEN_CACHE_SECONDS`` (keyed by the
token's hash), so a request does not wait on a query. A token revoked elsewhere (the CLI, another
worker) therefore keeps working in a process for at most that long; a revocation in the same
process takes effect at once. Unknown tokens are never remembered: a new token works at once.
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

from flask import current_app, g, request
from flask_smorest import abort
from sqlalchemy import select, update

from shared.cache import TimedCache
from shared.db.session import session_scope
from shared.db.tables import ApiToken, Site

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


def token_role(database_url: str, token: str) -> tuple[str, str] | None:
    """(name, role) of a live token, or None; always asks the database."""
    return _stored_role(database_url, hash_token(token))


def _stored_role(database_url: str, digest: str) -> tuple[str, str] | None:
    with session_scope(database_url) as session:
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

    def role(self, database_url: str, token: str) -> tuple[str, str] | None:
        """(name, role) of a live token, from memory while fresh, else from the database."""
        key = (database_url, hash_token(token))
        return self._found.get(key, lambda: _stored_role(*key))

    def clear(self) -> None:
        self._found.clear()

    def __len__(self) -> int:
        return len(self._found)


# One per process: what require_role asks.
TOKENS = TokenCache()


def require_role(role: str) -> Callable:
    """Decorator for views: a bearer token whose role grants ``role``, else 401/403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                abort(
                    401,
                    message="A bearer token is required.",
                    errors={"Authorization": ["Missing bearer token."]},
                )
            found = TOKENS.role(current_app.config["KUNDRESA"].database_url, token.strip())
            if found is None:
                abort(
                    401,
                    message="The token is not valid.",
                    errors={"Authorization": ["Unknown or revoked token."]},
                )
            name, token_role_name = found
            if role not in ROLE_GRANTS[token_role_name]:
                abort(
                    403,
                    message=f"This needs the {role} role.",
                    errors={"Authorization": [f"Role {token_role_name} may not do this."]},
                )
            g.principal = name
            g.role = token_role_name
            return view(*args, **kwargs)

        return wrapped

    return decorator


def create_site(database_url: str, name: str, origins: list[str]) -> str:
    """Register a web shop and return its publishable site key."""
    key = new_site_key()
    with session_scope(database_url) as session:
        session.add(Site(name=name, site_key=key, allowed_origins=origins))
    return key
