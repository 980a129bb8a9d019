"""The shared plumbing: hashed tokens with roles, settings, and the one error format."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from shared.auth import TokenCache, create_token, hash_token, revoke_token, token_role
from shared.db.session import session_scope
from shared.db.tables import ApiToken
from shared.settings import Settings
from shared.web import flatten_errors


def test_tokens_are_stored_only_as_hashes_and_can_be_revoked(database_url: str) -> None:
    token = create_token(database_url, name="crm-sync", role="support")
    with session_scope(database_url) as session:
        stored = session.scalars(select(ApiToken)).one()
    assert token not in (stored.token_hash, stored.prefix, stored.name)
    assert stored.token_hash == hash_token(token)
    assert _role(token_role, database_url, token) == ("crm-sync", "support")
    assert revoke_token(database_url, "crm-sync") == 1
    assert _role(token_role, database_url, token) is None


def _role(lookup, database_url: str, token: str) -> tuple[str, str] | None:  # noqa: ANN001
    with session_scope(database_url) as session:
        return lookup(session, token)


class _Clock:
    """A clock the test moves by hand, so expiry is checked without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _revoke_elsewhere(database_url: str, name: str) -> None:
    # As the CLI or another worker would: straight in the database, not through this process.
    from datetime import UTC, datetime

    with session_scope(database_url) as session:
        session.execute(
            update(ApiToken).where(ApiToken.name == name).values(revoked_at=datetime.now(UTC))
        )


def test_a_token_revoked_elsewhere_stops_working_when_its_cache_entry_expires(
    database_url: str,
) -> None:
    clock = _Clock()
    cache = TokenCache(seconds=30, clock=clock)
    token = create_token(database_url, name="crm-sync", role="support")
    assert _role(cache.role, database_url, token) == ("crm-sync", "support")
    _revoke_elsewhere(database_url, "crm-sync")
    clock.now += 29
    assert _role(cache.role, database_url, token) == ("crm-sync", "support")
    clock.now += 1
    assert _role(cache.role, database_url, token) is None
    assert _role(token_role, database_url, token) is None


def test_a_revocation_in_this_process_and_a_new_token_take_effect_at_once(
    database_url: str,
) -> None:
    from shared.auth import TOKENS

    token = create_token(database_url, name="crm-sync", role="support")
    assert _role(TOKENS.role, database_url, token) == ("crm-sync", "support")
    assert revoke_token(database_url, "crm-sync") == 1
    assert _role(TOKENS.role, database_url, token) is None
    # An unknown token is never remembered: once created it works on the next request.
    later = "kr_" + "x" * 43
    assert _role(TOKENS.role, database_url, later) is None
    with session_scope(database_url) as session:
        session.add(
            ApiToken(name="late", role="admin", token_hash=hash_token(later), prefix="kr_xxxx")
        )
    assert _role(TOKENS.role, database_url, later) == ("late", "admin")


def test_the_token_cache_stays_bounded(database_url: str) -> None:
    cache = TokenCache(max_entries=2)
    tokens = [create_token(database_url, name=f"t{i}", role="ingest") for i in range(5)]
    for token in tokens:
        assert _role(cache.role, database_url, token) is not None
    assert len(cache) <= 2


def test_an_unknown_role_is_refused(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="role"):
        create_token(sqlite_url, name="x", role="root")


def test_nested_validation_errors_are_named_by_dotted_field() -> None:
    errors = {"json": {"events": {3: {"occurred_at": ["Not a valid datetime."]}}}}
    assert flatten_errors(errors) == {"events.3.occurred_at": ["Not a valid datetime."]}
    assert flatten_errors({"json": {"_schema": ["Bad."]}}) == {"_schema": ["Bad."]}


def test_settings_default_to_files_under_var_and_keep_the_secret_out_of_repr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATABASE_URL", "MLFLOW_TRACKING_URI", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUNDRESA_VAR_DIR", str(tmp_path / "var"))
    settings = Settings.from_env()
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'kundresa.db'}"
    assert settings.mlflow_tracking_uri.startswith("sqlite:///")
    assert settings.secret_key not in repr(settings)
    assert Settings.from_env().secret_key == settings.secret_key, "the made secret is kept"
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0
