"""Who may call the public API: the site key, the request's origin, CORS and rate limits.

A site key is publishable (it sits in the shop's HTML), so it names a site rather than
proving anything. Two kinds of caller use it:

- a browser on the shop's pages: the site key and one of the site's allowed origins. What it
  may claim is limited (``survey_service.browser_claims``).
- the shop's back office: the site key and ``Authorization: Bearer`` with an ingest (or admin)
  token; it needs no origin and may send anything for any customer.

A POST without a token and without an ``Origin`` is refused: every browser sends ``Origin`` on
a POST, so such a call comes from a script pretending to be the site. GETs (a survey's texts,
eligibility) claim nothing about anyone and stay open without ``Origin``, because browsers
leave it out of same-origin GETs (the Fetch standard). For everyone there is the rate limit
per site key and client address.

The rate limit is the ``limits`` library (the engine under Flask-Limiter) called directly:
one fixed-window counter per site key and address, in Redis when ``REDIS_URL`` is set. For
one limit on one blueprint, Flask-Limiter's per-request machinery (resolving route, blueprint,
default and meta limits, rate-limit headers on every answer) cost 0.25–0.45 ms of a 1.3–1.7 ms
``POST /v1/responses`` (measured in-process, interleaved, bench notes in the README); the
counter itself is a few microseconds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, Response, current_app, g, request
from flask_smorest import abort
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from shared.auth import authorise
from shared.identity_signature import SIGNATURE_HEADER
from shared.schemas.fields import is_storable_text
from shared.settings import Settings
from shared.web import current_settings
from survey_service import lookups
from survey_service.ratelimit_memory import SCHEME as MEMORY_SCHEME

log = logging.getLogger(__name__)

SITE_KEY_HEADER = "X-Site-Key"
ALLOW_HEADERS = f"Content-Type, {SITE_KEY_HEADER}, {SIGNATURE_HEADER}"
# What a back-office token must grant (admin grants it too).
BACK_OFFICE_ROLE = "ingest"
# Methods by which a browser always names its origin.
ORIGIN_REQUIRED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOW_METHODS = "GET, POST"
PREFLIGHT_MAX_AGE = "600"


def presented_site_key() -> str | None:
    """The key from the header, else from ``?site_key=`` (navigator.sendBeacon sets no headers)."""
    key = request.headers.get(SITE_KEY_HEADER) or request.args.get("site_key")
    return key.strip() if key else None


def _database_url() -> str:
    return current_settings().database_url


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
    if "Authorization" in request.headers:
        authorise(BACK_OFFICE_ROLE)
        g.back_office = True
    else:
        _check_browser_origin(site)
        g.back_office = False
    g.site = site
    return None


def _check_browser_origin(site: lookups.SiteInfo) -> None:
    origin = request.headers.get("Origin")
    if origin is None:
        if request.method in ORIGIN_REQUIRED_METHODS:
            abort(
                403,
                message="A call without a token must come from a browser on an allowed origin; "
                "a shop's server sends an ingest token (Authorization: Bearer).",
                errors={"Origin": ["Missing."]},
            )
        return
    if not site.allows(origin):
        abort(403, message="This origin is not allowed.", errors={"Origin": [origin]})
    g.cors_origin = origin


def is_back_office() -> bool:
    """Whether this public call carries a back-office token (else it is a browser's)."""
    return bool(g.get("back_office"))


def add_cors_headers(response: Response) -> Response:
    """``after_request``: let an allowed origin read the answer (errors included)."""
    origin = g.get("cors_origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
    response.vary.add("Origin")
    return response


RATE_LIMIT_EXTENSION = "kundresa_rate_limit"
KEY_PREFIX = "kundresa-survey"
# After Redis fails, counts stay in this process's memory this long before Redis is tried again.
STORAGE_RETRY_SECONDS = 30.0


def _memory_limiter() -> FixedWindowRateLimiter:
    return FixedWindowRateLimiter(storage_from_string(f"{MEMORY_SCHEME}://"))


@dataclass
class RateLimit:
    """The public API's budget per site key and client address, e.g. ``120/minute``.

    Counts live in Redis when ``redis_url`` is given (shared by every worker), else in this
    process's memory. A broken Redis must not take the API down: while it fails, counts are
    kept per process and Redis is tried again every ``STORAGE_RETRY_SECONDS``.
    """

    limits: list[RateLimitItem]
    shared: FixedWindowRateLimiter
    fallback: FixedWindowRateLimiter | None = None
    clock: Callable[[], float] = time.monotonic
    _broken_until: float = field(default=0.0, init=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimit:
        limits = parse_many(settings.rate_limit_public)
        if not settings.redis_url:
            return cls(limits, _memory_limiter())
        shared = FixedWindowRateLimiter(storage_from_string(settings.redis_url))
        return cls(limits, shared, fallback=_memory_limiter())

    def _limiter(self) -> FixedWindowRateLimiter:
        if self.fallback is not None and self.clock() < self._broken_until:
            return self.fallback
        return self.shared

    def hit(self, key: str) -> float | None:
        """Count one call for ``key``; None when allowed, else seconds until the window resets."""
        limiter = self._limiter()
        for limit in self.limits:
            try:
                allowed = limiter.hit(limit, KEY_PREFIX, key)
            except Exception as exc:
                if self.fallback is None or limiter is self.fallback:
                    raise
                self._broken_until = self.clock() + STORAGE_RETRY_SECONDS
                log.warning(
                    "rate-limit storage unreachable, counting in memory for now",
                    extra={"error": type(exc).__name__},
                )
                return self.hit(key)
            if not allowed:
                reset = limiter.get_window_stats(limit, KEY_PREFIX, key).reset_time
                return max(0.0, reset - time.time())
        return None


def install_rate_limit(app: Flask, settings: Settings) -> None:
    app.extensions[RATE_LIMIT_EXTENSION] = RateLimit.from_settings(settings)


def limit_rate() -> None:
    """``before_request`` of the public blueprint, ahead of the site check so that guessing
    site keys is limited too: 429 with ``Retry-After`` once the budget is spent."""
    # A real site key has at most 64 characters; longer ones share one counter per prefix, so a
    # caller cannot make counters (in memory or Redis) of any size it likes.
    key = f"{(presented_site_key() or '-')[:65]}|{request.remote_addr or '-'}"
    retry_after = current_app.extensions[RATE_LIMIT_EXTENSION].hit(key)
    if retry_after is not None:
        abort(
            429,
            message="Too many requests from this site key and address; try again later.",
            headers={"Retry-After": str(math.ceil(retry_after))},
        )
