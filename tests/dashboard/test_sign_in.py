"""Sign-in, lock-out, sessions and CSRF of the dashboard, with the Flask test client."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from model_service.dashboard.users import create_user, set_password
from shared.auth import create_token
from shared.db.session import session_scope
from shared.db.tables import SignInFailure, User
from tests.dashboard.conftest import AGENT, PASSWORD, Dashboard, csrf_token, sign_in

PAGES = (
    "/dashboard/",
    "/dashboard/carts",
    "/dashboard/customers/c-risky",
    "/dashboard/journey-map",
    "/dashboard/critical-journeys",
    "/dashboard/feedback",
    "/dashboard/models",
    "/dashboard/export.csv",
    "/dashboard/no-such-page",
)


def test_every_page_redirects_an_anonymous_visitor_to_sign_in(dashboard: Dashboard):
    client = dashboard.client()
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/dashboard/sign-in?next="), path


def test_every_change_refuses_an_anonymous_visitor(dashboard: Dashboard):
    client = dashboard.client()
    for path in ("/dashboard/customers/c1/follow-up", "/dashboard/sign-out", "/dashboard/language"):
        assert client.post(path, data={"action": "take"}).status_code == 302


def test_sign_in_with_the_right_password_opens_the_at_risk_list(dashboard: Dashboard):
    client = dashboard.client()
    response = sign_in(client, AGENT.upper(), PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/"
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert "Who to call now" in page.text
    assert AGENT in page.text


def test_session_cookie_is_http_only_and_same_site_lax(dashboard: Dashboard):
    client = dashboard.client()
    response = sign_in(client, AGENT, PASSWORD)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_when_configured(database_url, tmp_path, empty_mlflow):
    from model_service.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(
        tmp_path, database_url, mlflow_tracking_uri=empty_mlflow, session_cookie_secure=True
    )
    create_user(database_url, AGENT, "admin", PASSWORD)
    app = create_app(settings, start_polling=False)
    client = app.test_client()
    response = sign_in(client, AGENT, PASSWORD)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in cookie


def test_wrong_password_and_unknown_email_are_refused_alike(dashboard: Dashboard):
    client = dashboard.client()
    wrong = sign_in(client, AGENT, "not the password")
    unknown = sign_in(client, "nobody@shop.example", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "The e-mail or password is wrong." in wrong.text
    assert "The e-mail or password is wrong." in unknown.text
    assert client.get("/dashboard/").status_code == 302


def test_address_locks_after_repeated_failures_even_for_the_right_password(
    dashboard: Dashboard,
):
    client = dashboard.client()
    for _ in range(2):
        assert sign_in(client, AGENT, "guess").status_code == 401
    locked = sign_in(client, AGENT, "guess")
    assert locked.status_code == 429
    assert "locked" in locked.text
    assert sign_in(client, AGENT, PASSWORD).status_code == 429
    _end_every_block(dashboard.database_url)
    assert sign_in(client, AGENT, PASSWORD).status_code == 302


def _end_every_block(database_url: str) -> None:
    """As if the delays had passed."""
    with session_scope(database_url) as session:
        session.execute(
            update(SignInFailure).values(blocked_until=datetime.now(UTC) - timedelta(seconds=1))
        )


def _from(client, address: str):
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_unknown_emails_are_counted_and_locked_alike(dashboard: Dashboard):
    known = _from(dashboard.client(), "10.0.0.1")
    unknown = _from(dashboard.client(), "10.0.0.2")
    answers = {"known": [], "unknown": []}
    for _ in range(4):
        answers["known"].append(sign_in(known, AGENT, "guess").status_code)
        answers["unknown"].append(sign_in(unknown, "nobody@shop.example", "guess").status_code)
    assert answers["known"] == answers["unknown"] == [401, 401, 429, 429]


def test_a_stranger_elsewhere_cannot_lock_the_real_user_out(dashboard: Dashboard):
    stranger = _from(dashboard.client(), "203.0.113.9")
    for _ in range(6):
        sign_in(stranger, AGENT, "guess")
    assert sign_in(stranger, AGENT, PASSWORD).status_code == 429, "the stranger is held"
    agent = _from(dashboard.client(), "192.0.2.10")
    assert sign_in(agent, AGENT, PASSWORD).status_code == 302
    assert agent.get("/dashboard/").status_code == 200


def test_a_locked_account_only_delays_an_address_that_failed_before(dashboard: Dashboard):
    stranger = _from(dashboard.client(), "203.0.113.9")
    for _ in range(3):
        sign_in(stranger, AGENT, "guess")
    typo = _from(dashboard.client(), "192.0.2.10")
    assert sign_in(typo, AGENT, "typo").status_code == 429, "the account is blocked"
    assert sign_in(typo, AGENT, PASSWORD).status_code == 429
    _end_every_block(dashboard.database_url)
    assert sign_in(typo, AGENT, PASSWORD).status_code == 302, "after the delay it signs in"


def test_a_blocked_address_is_refused_before_any_password_is_hashed(
    dashboard: Dashboard, monkeypatch
):
    from model_service.dashboard import users

    client = dashboard.client()
    for _ in range(3):
        sign_in(client, f"x{_}@shop.example", "guess")
    checked = []
    monkeypatch.setattr(users, "check_password_hash", lambda *a: checked.append(a) or False)
    assert sign_in(client, "other@shop.example", "guess").status_code == 429
    assert checked == []


def test_the_delay_doubles_up_to_the_lockout_minutes():
    from model_service.dashboard.sign_in_limits import FIRST_DELAY_SECONDS, Limits

    now = datetime(2026, 12, 1, tzinfo=UTC)
    limits = Limits(now, max_failed=5, longest=timedelta(minutes=15))
    delays = [limits.blocked_until(n) for n in range(1, 12)]
    assert delays[:4] == [None] * 4
    seconds = [(d - now).total_seconds() for d in delays[4:]]
    assert seconds == [FIRST_DELAY_SECONDS * 2**i for i in range(5)] + [900, 900]


def test_parallel_wrong_passwords_are_checked_no_more_than_the_limit(
    database_url: str, monkeypatch
):
    """Issue 19: 24 parallel wrong passwords were checked 22 times against a limit of 5."""
    from model_service.dashboard import users

    create_user(database_url, AGENT, "support", PASSWORD)
    checked = []
    real_check = users.check_password_hash
    monkeypatch.setattr(
        users, "check_password_hash", lambda *a: checked.append(1) or real_check(*a)
    )
    start = threading.Barrier(24)
    outcomes = []

    def attempt() -> None:
        start.wait()
        result = users.authenticate(
            database_url, AGENT, "guess", address="198.51.100.7", max_failed=5, lockout_minutes=15
        )
        outcomes.append(result.outcome)

    threads = [threading.Thread(target=attempt) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(checked) == 5
    assert sorted(outcomes) == ["invalid"] * 4 + ["locked"] * 20


def test_passwords_are_stored_as_scrypt_hashes_by_default(sqlite_url, monkeypatch):
    from model_service.dashboard import users

    monkeypatch.undo()
    assert users.PASSWORD_METHOD == "scrypt"
    create_user(sqlite_url, "a@shop.example", "admin", "long enough pw")
    with session_scope(sqlite_url) as session:
        stored = session.scalar(select(User.password_hash))
    assert stored.startswith("scrypt:") and "long enough pw" not in stored


def test_a_successful_sign_in_resets_the_failure_count(dashboard: Dashboard):
    client = dashboard.client()
    sign_in(client, AGENT, "guess")
    sign_in(client, AGENT, "guess")
    assert sign_in(client, AGENT, PASSWORD).status_code == 302
    with session_scope(dashboard.database_url) as session:
        counts = session.scalars(select(SignInFailure.failures)).all()
        assert counts == [2], "the account's count is gone; the address keeps its two"
        user = session.scalar(select(User).where(User.email == AGENT))
        assert user.password_hash != PASSWORD
        assert PASSWORD not in user.password_hash


def test_sign_in_without_csrf_token_is_refused(dashboard: Dashboard):
    client = dashboard.client()
    response = client.post("/dashboard/sign-in", data={"email": AGENT, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/dashboard/").status_code == 302


def test_sign_out_needs_its_token_and_ends_the_session(dashboard: Dashboard):
    client = dashboard.signed_in()
    assert client.post("/dashboard/sign-out").status_code == 400
    assert client.get("/dashboard/").status_code == 200
    token = csrf_token(client, "/dashboard/")
    response = client.post("/dashboard/sign-out", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_a_cookie_replayed_after_sign_out_is_refused(dashboard: Dashboard):
    client = dashboard.signed_in()
    captured = client.get_cookie("session").value
    elsewhere = dashboard.signed_in()  # the same user in another browser
    token = csrf_token(client, "/dashboard/")
    assert client.post("/dashboard/sign-out", data={"csrf_token": token}).status_code == 302
    replay = dashboard.client()
    replay.set_cookie("session", captured)
    assert replay.get("/dashboard/").status_code == 302
    assert replay.get("/dashboard/export.csv").status_code == 302
    assert elsewhere.get("/dashboard/").status_code == 302, "sign-out ends every session"


def test_a_new_password_ends_every_session(dashboard: Dashboard):
    client = dashboard.signed_in()
    set_password(dashboard.database_url, AGENT.upper(), "a new long password")
    assert client.get("/dashboard/").status_code == 302
    assert sign_in(dashboard.client(), AGENT, PASSWORD).status_code == 401
    assert dashboard.signed_in(password="a new long password").get("/dashboard/").status_code == 200


def test_set_password_refuses_an_unknown_user_and_a_short_password(sqlite_url):
    create_user(sqlite_url, AGENT, "support", PASSWORD)
    with pytest.raises(ValueError, match="no user"):
        set_password(sqlite_url, "nobody@shop.example", "long enough pw")
    with pytest.raises(ValueError, match="password"):
        set_password(sqlite_url, AGENT, "short")


def test_next_parameter_cannot_send_the_agent_off_site(dashboard: Dashboard):
    client = dashboard.client()
    token = csrf_token(client, "/dashboard/sign-in")
    response = client.post(
        "/dashboard/sign-in?next=https://evil.example/",
        data={"csrf_token": token, "email": AGENT, "password": PASSWORD},
    )
    assert response.headers["Location"] == "/dashboard/"


def test_json_api_keeps_working_with_bearer_tokens_and_no_csrf(dashboard: Dashboard):
    from tests.dashboard.conftest import seed_scored_customers

    seed_scored_customers(dashboard.database_url)
    token = create_token(dashboard.database_url, name="crm", role="support")
    response = dashboard.client().post(
        "/v1/follow-ups",
        json={"customer_id": "c-risky", "task": "brand_switch"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("email", "role", "password", "problem"),
    [
        ("a@shop.example", "ingest", "long enough pw", "role"),
        ("a@shop.example", "support", "short", "password"),
        ("not-an-email", "support", "long enough pw", "e-mail"),
    ],
)
def test_create_user_refuses_bad_input(sqlite_url, email, role, password, problem):
    with pytest.raises(ValueError, match=problem):
        create_user(sqlite_url, email, role, password)


def test_create_user_refuses_a_taken_email(sqlite_url):
    create_user(sqlite_url, "a@shop.example", "support", "long enough pw")
    with pytest.raises(ValueError, match="already exists"):
        create_user(sqlite_url, "A@shop.example", "admin", "long enough pw")
