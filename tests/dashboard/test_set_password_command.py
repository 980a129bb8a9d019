"""``kundresa users set-password EMAIL``: a new password, and every session of the user ends."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kundresa.admin import users
from tests.dashboard.conftest import AGENT, PASSWORD, Dashboard, sign_in


@pytest.fixture
def env(dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch) -> Dashboard:
    monkeypatch.setenv("DATABASE_URL", dashboard.database_url)
    monkeypatch.setenv("SECRET_KEY", "x" * 48)
    return dashboard


def test_set_password_changes_it_and_signs_the_user_out(env: Dashboard) -> None:
    client = env.signed_in()
    new = "another long password"
    result = CliRunner().invoke(users, ["set-password", AGENT], input=f"{new}\n{new}\n")
    assert result.exit_code == 0, result.output
    assert "every session" in result.output
    assert client.get("/dashboard/").status_code == 302
    assert sign_in(env.client(), AGENT, PASSWORD).status_code == 401
    assert sign_in(env.client(), AGENT, new).status_code == 302


def test_set_password_names_an_unknown_user_without_a_traceback(env: Dashboard) -> None:
    pw = "long enough pw"
    result = CliRunner().invoke(
        users, ["set-password", "nobody@shop.example"], input=f"{pw}\n{pw}\n"
    )
    assert result.exit_code == 1
    assert "no user with e-mail nobody@shop.example" in result.output
