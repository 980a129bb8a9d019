"""Who may call the public API: site keys, origins, CORS preflights and rate limits."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace

import pytest
import redis
from flask.testing import FlaskClient

from shared.auth import create_site, create_token
from shared.db.session import session_scope
from shared.db.tables import Site
from survey_service.ratelimit_memory import SCHEME as MEMORY_SCHEME
from survey_service.ratelimit_memory import FixedWindowMemoryStorage
from tests.survey_service.conftest import ORIGIN, event, sqlite_only

IDENTIFY = {"visitor_id": "v-1", "customer_id": "c-1"}


@sqlite_only
def test_a_missing_key_is_401_and_an_unknown_key_403(client: FlaskClient) -> None:
    missing = client.post("/v1/identify", json=IDENTIFY)
    assert missing.status_code == 401
    assert "X-Site-Key" in missing.json["errors"]
    unknown = client.get("/v1/surveys/post_purchase", headers={"X-Site-Key": "pk_nope"})
    assert unknown.status_code == 403
    nul = client.get("/v1/surveys/post_purchase?site_key=%00")
    assert nul.status_code == 403


@sqlite_only
def test_an_inactive_site_is_refused(client: FlaskClient, database_url: str) -> None:
    key = create_site(database_url, "Closed shop", [ORIGIN])
    with session_scope(database_url) as session:
        session.query(Site).filter_by(site_key=key).update({"active": False})
    assert (
        client.post("/v1/identify", json=IDENTIFY, headers={"X-Site-Key": key}).status_code == 403
    )


def test_only_the_sites_origins_may_call_from_a_browser(
    client: FlaskClient, site_key: str, site: dict
) -> None:
    page_view = {"events": [event("e-1")]}
    allowed = client.post(
        "/v1/events", json=page_view, headers={"X-Site-Key": site_key, "Origin": ORIGIN}
    )
    assert allowed.status_code == 202
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in allowed.headers["Vary"]
    other = client.post(
        "/v1/events",
        json=page_view,
        headers={"X-Site-Key": site_key, "Origin": "https://evil.example"},
    )
    assert other.status_code == 403
    assert "Access-Control-Allow-Origin" not in other.headers
    # Without a token, a POST without Origin is a script pretending to be the site.
    no_origin = client.post("/v1/events", json=page_view, headers={"X-Site-Key": site_key})
    assert no_origin.status_code == 403
    assert "Origin" in no_origin.json["errors"]
    # The shop's back office: the site key and an ingest token, no Origin needed.
    back_office = client.post("/v1/events", json=page_view, headers=site)
    assert back_office.status_code == 202
    assert "Access-Control-Allow-Origin" not in back_office.headers
    # Reading a survey claims nothing: browsers leave Origin out of same-origin GETs.
    read = client.get("/v1/surveys/post_purchase", headers={"X-Site-Key": site_key})
    assert read.status_code == 200


@sqlite_only
def test_a_back_office_call_needs_a_live_token_that_may_ingest(
    client: FlaskClient, site_key: str, support: dict, database_url: str
) -> None:
    page_view = {"events": [event("e-1")]}
    unknown = client.post(
        "/v1/events",
        json=page_view,
        headers={"X-Site-Key": site_key, "Authorization": "Bearer kr_forged"},
    )
    assert unknown.status_code == 401
    assert "Authorization" in unknown.json["errors"]
    wrong_role = client.post(
        "/v1/events", json=page_view, headers={"X-Site-Key": site_key, **support}
    )
    assert wrong_role.status_code == 403
    admin_token = create_token(database_url, "an-admin", "admin")
    as_admin = client.post(
        "/v1/events",
        json=page_view,
        headers={"X-Site-Key": site_key, "Authorization": f"Bearer {admin_token}"},
    )
    assert as_admin.status_code == 202


@sqlite_only
def test_a_preflight_is_answered_for_allowed_origins_only(
    client: FlaskClient, site_key: str
) -> None:
    ask = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-site-key",
    }
    for path in (
        "/v1/responses",
        "/v1/events",
        "/v1/identify",
        f"/v1/responses?site_key={site_key}",
    ):
        answer = client.options(path, headers=ask)
        assert answer.status_code == 204, path
        assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert answer.headers["Access-Control-Allow-Headers"] == (
            "Content-Type, X-Site-Key, X-Identity-Signature"
        )
        assert set(answer.headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "POST"}
        assert "Origin" in answer.headers["Vary"]
    survey = client.options("/v1/surveys/post_purchase", headers=ask)
    assert survey.status_code == 204
    refused = client.options("/v1/events", headers={**ask, "Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers


@sqlite_only
def test_public_calls_are_rate_limited_per_site_key_and_address(app_factory, site: dict) -> None:
    client = app_factory(rate_limit_public="3/minute").test_client()
    codes = [client.post("/v1/identify", json=IDENTIFY, headers=site).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.post("/v1/identify", json=IDENTIFY, headers=site)
    assert limited.json["code"] == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    unknown_key = {"X-Site-Key": "pk_guess"}
    guesses = [client.post("/v1/identify", json=IDENTIFY, headers=unknown_key) for _ in range(4)]
    assert [answer.status_code for answer in guesses] == [403, 403, 403, 429], (
        "guessing site keys is limited too"
    )
    other_address = client.post(
        "/v1/identify", json=IDENTIFY, headers=site, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert other_address.status_code == 200


def test_a_broken_redis_does_not_take_the_public_api_down() -> None:
    from shared.settings import Settings
    from survey_service.access import STORAGE_RETRY_SECONDS, RateLimit

    now = [0.0]
    settings = replace(
        Settings.from_env(), redis_url="redis://127.0.0.1:1/0", rate_limit_public="2/minute"
    )
    rate_limit = RateLimit.from_settings(settings)
    rate_limit.clock = lambda: now[0]
    # Nothing listens on port 1: counts fall back to this process's memory, limits still hold.
    assert [rate_limit.hit("site|addr") for _ in range(3)][:2] == [None, None]
    assert rate_limit.hit("site|addr") is not None
    assert rate_limit.hit("other|addr") is None
    shared_calls = []
    rate_limit.shared.hit = lambda *args, **kwargs: shared_calls.append(args) or True
    rate_limit.hit("third|addr")
    assert not shared_calls, "Redis is not asked again at once"
    now[0] += STORAGE_RETRY_SECONDS + 1
    assert rate_limit.hit("third|addr") is None
    assert shared_calls, "Redis is tried again after a while"


def test_the_in_process_rate_limit_storage_expires_counts_without_a_thread_per_hit() -> None:
    from limits import RateLimitItemPerSecond
    from limits.storage import storage_from_string
    from limits.strategies import FixedWindowRateLimiter

    storage = storage_from_string(f"{MEMORY_SCHEME}://")
    assert isinstance(storage, FixedWindowMemoryStorage)
    limiter = FixedWindowRateLimiter(storage)
    per_second = RateLimitItemPerSecond(3)
    threads_before = threading.active_count()
    hits = [limiter.hit(per_second, "site|addr") for _ in range(200)]
    assert hits[:3] == [True, True, True] and not any(hits[3:])
    # No timer thread per burst of hits, nor any other thread.
    assert threading.active_count() <= threads_before
    reset, remaining = limiter.get_window_stats(per_second, "site|addr")
    assert remaining == 0 and time.time() < reset <= time.time() + 1
    limiter.hit(RateLimitItemPerSecond(1), "other")
    deadline = time.monotonic() + 10
    while limiter.test(per_second, "site|addr") is False and time.monotonic() < deadline:
        time.sleep(0.05)
    assert limiter.test(per_second, "site|addr"), "the window ended, so the site may call again"
    time.sleep(1.05)
    storage.sweep()
    assert len(storage) == 0, "idle counters are freed"


@sqlite_only
def test_rate_limits_are_shared_by_every_worker_through_redis(app_factory, site: dict) -> None:
    """Two apps stand for two gunicorn workers: with REDIS_URL they share one budget."""
    url = os.environ.get("KUNDRESA_TEST_REDIS_URL", "").strip()
    if not url:
        pytest.skip("set KUNDRESA_TEST_REDIS_URL to test the Redis rate-limit storage")
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"KUNDRESA_TEST_REDIS_URL is set but Redis is unreachable: {exc}")
        pytest.skip(f"Redis unreachable: {exc}")
    workers = [
        app_factory(rate_limit_public="3/minute", redis_url=url).test_client() for _ in range(2)
    ]
    codes = [
        workers[i % 2].post("/v1/identify", json=IDENTIFY, headers=site).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
