"""API tokens and roles, shared by both services.

Tokens are random, shown once, and stored only as a SHA-256 hash: a leaked database does not
leak a usable token. Roles: ``admin`` may do everything, ``support`` reads and manages
follow-ups, ``ingest`` may only send data.

Each process remembers a live token it has looked up for ``TOKEN_CACHE_SECONDS`` (keyed by the
token's hash), so a request does not wait on a query. A token revoked elsewhere (the CLI, another
worker) therefore keeps working in a process for at most that long; a revocation in the same
process takes effect at once. Unknown tokens are never remembered: a new token works at once.

Views say which role they need with ``@auth(role)``, which also documents the bearer security
requirement and the 401/403 answers in the OpenAPI document. The token is checked before the
request's arguments are parsed (``install_authentication``): an anonymous caller learns 401, not
what a valid body looks like. Answers to such requests are never stored by caches (``no-store``):
they hold personal data.

A token's ``last_used_at`` is written at most once a minute per token (``LAST_USED_EVERY``), so
that an operator can see which tokens are idle without a write per request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_smorest import Blueprint, abort
from sqlalchemy import or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shared.cache import TimedCache
from shared.db.session import session_scope
from shared.db.tables import ApiToken, Site
from shared.identity_signature import new_identity_secret
from shared.web import RESPONSE_DOCS, ErrorSchema, db_session

log = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("admin", "support", "ingest")
# What each role may also do: admin can act as support and ingest.
ROLE_GRANTS: dict[str, set[str]] = {
    "admin": {"admin", "support", "ingest"},
    "support": {"support"},
    "ingest": {"ingest"},
}


TOKEN_CACHE_SECONDS = 30.0
TOKEN_CACHE_ENTRIES = 4096
LAST_USED_EVERY = timedelta(seconds=60)


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
            # Checked already by _authenticate_first, unless the decorators above lost the mark.
            if g.get("authorised_for") != role:
                authorise(role)
            return view(*args, **kwargs)

        # functools.wraps copies it onto the decorators above (arguments, response ...).
        wrapped.required_role = role  # type: ignore[attr-defined]
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
    g.authorised_for = role
    _note_use(token.strip())


def _required_role() -> str | None:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "required_role", None)


def _authenticate_first() -> None:
    """``before_request``: the token of a view with ``@auth(role)``, before its arguments."""
    role = _required_role()
    if role is not None and request.method != "OPTIONS":
        authorise(role)


def _no_store(response: Response) -> Response:
    if _required_role() is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


def install_authentication(app: Flask) -> None:
    """Check tokens before arguments are parsed, and keep authorised answers out of caches."""
    app.before_request(_authenticate_first)
    app.after_request(_no_store)


def bearer_may(*roles: str) -> bool:
    """Whether the request's bearer token (if any) grants one of ``roles``; never aborts."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    found = TOKENS.role(db_session(), token.strip())
    return found is not None and any(role in ROLE_GRANTS[found[1]] for role in roles)


# Per process, the tokens whose use was written less than LAST_USED_EVERY ago.
_USE_NOTED = TimedCache(LAST_USED_EVERY.total_seconds(), size=TOKEN_CACHE_ENTRIES)


def _note_use(token: str) -> None:
    session = db_session()
    digest = hash_token(token)
    _USE_NOTED.get((session.get_bind().url, digest), lambda: _write_last_used(session, digest))


def _write_last_used(session: Session, digest: str) -> bool:
    """Set ``last_used_at`` unless another process did within ``LAST_USED_EVERY``."""
    now = datetime.now(UTC)
    try:
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.token_hash == digest,
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USED_EVERY),
            )
            .values(last_used_at=now)
        )
        session.commit()
    except OperationalError as exc:
        # A busy SQLite file must not refuse the request; the next minute writes it.
        session.rollback()
        log.warning("last_used_at not written: %s", type(exc.orig).__name__)
    return True


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
