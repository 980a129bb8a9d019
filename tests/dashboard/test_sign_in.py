"""Sign-in, lock-out, sessions and CSRF of the dashboard, with the Flask test client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from model_service.dashboard.users import create_user
from shared.auth import create_token
from shared.db.session import session_scope
from shared.db.tables import User
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


def test_account_locks_after_repeated_failures_even_for_the_right_password(
    dashboard: Dashboard,
):
    client = dashboard.client()
    for _ in range(2):
        assert sign_in(client, AGENT, "guess").status_code == 401
    locked = sign_in(client, AGENT, "guess")
    assert locked.status_code == 429
    assert "locked" in locked.text
    assert sign_in(client, AGENT, PASSWORD).status_code == 429
    with session_scope(dashboard.database_url) as session:
        session.execute(
            update(User)
            .where(User.email == AGENT)
            .values(locked_until=datetime.now(UTC) - timedelta(minutes=1))
        )
    assert sign_in(client, AGENT, PASSWORD).status_code == 302


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
        user = session.scalar(select(User).where(User.email == AGENT))
        assert user.failed_logins == 0
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
