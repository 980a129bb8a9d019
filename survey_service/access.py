"""Who may call the public API: the site key, the request's origin, CORS and rate limits.

A site key is publishable (it sits in the shop's HTML), so it names a site rather than
proving anything; the real fence for browsers is the origin check, and for everyone the rate
limit per site key and client address.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from flask_smorest import abort

from shared.schemas.fields import is_storable_text
from shared.settings import Settings
from survey_service import lookups
from survey_service.ratelimit_memory import SCHEME as MEMORY_SCHEME

SITE_KEY_HEADER = "X-Site-Key"
ALLOW_HEADERS = "Content-Type, X-Site-Key"
ALLOW_METHODS = "GET, POST"
PREFLIGHT_MAX_AGE = "600"


def presented_site_key() -> str | None:
    """The key from the header, else from ``?site_key=`` (navigator.sendBeacon sets no headers)."""
    key = request.headers.get(SITE_KEY_HEADER) or request.args.get("site_key")
    return key.strip() if key else None


def _database_url() -> str:
    return current_app.config["KUNDRESA"].database_url


def _lookup_site(key: str) -> lookups.SiteInfo | None:
    if len(key) > 64 or not is_storable_text(key):
        return None
    return lookups.site(_database_url(), key)


def _preflight() -> Response:
    origin = request.headers.get("Origin")
    if not origin:
        abort(403, message="A preflight request needs an Origin header.")
    key = presented_site_key()
    if key:
        site = _lookup_site(key)
        allowed = site is not None and site.allows(origin)
    else:
        # The browser does not send X-Site-Key on a preflight: any active site's origin passes
        # here, and the real request is then checked against its own site.
        origins = lookups.any_site_origins(_database_url())
        allowed = origin in origins or "*" in origins
    if not allowed:
        abort(403, message="This origin is not allowed.", errors={"Origin": [origin]})
    response = current_app.response_class(status=204)
    response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
    response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    g.cors_origin = origin
    return response


def authorise_site() -> Response | None:
    """``before_request`` of the public blueprint: answer preflights, else require a site."""
    if request.method == "OPTIONS":
        return _preflight()
    key = presented_site_key()
    if not key:
        abort(
            401,
            message="A site key is required.",
            errors={SITE_KEY_HEADER: ["Send the X-Site-Key header or ?site_key=."]},
        )
    site = _lookup_site(key)
    if site is None:
        abort(403, message="Unknown or inactive site key.", errors={SITE_KEY_HEADER: ["Unknown."]})
    origin = request.headers.get("Origin")
    if origin is not None:
        if not site.allows(origin):
            abort(403, message="This origin is not allowed.", errors={"Origin": [origin]})
        g.cors_origin = origin
    g.site = site
    return None


def add_cors_headers(response: Response) -> Response:
    """``after_request``: let an allowed origin read the answer (errors included)."""
    origin = g.get("cors_origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
    response.vary.add("Origin")
    return response


def _site_and_address() -> str:
    return f"{presented_site_key() or '-'}|{request.remote_addr or '-'}"


def make_limiter(app: Flask, settings: Settings) -> Limiter:
    """Flask-Limiter in Redis when ``REDIS_URL`` is set (shared by workers), else in this
    process's memory (see ratelimit_memory)."""
    return Limiter(
        key_func=_site_and_address,
        app=app,
        storage_uri=settings.redis_url or f"{MEMORY_SCHEME}://",
        headers_enabled=True,
        # A broken Redis must not take the API down: fall back to per-process memory.
        swallow_errors=True,
        in_memory_fallback_enabled=bool(settings.redis_url),
        key_prefix="kundresa-survey",
    )
