"""Sites' identity secrets: shown once by the CLI, rotated by it, and the migration that gives
sites made before secrets no requirement (so running shops keep working) and a warning."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from kundresa.admin import sites
from shared.db.migrate import upgrade
from shared.db.session import dispose_engines, session_scope
from shared.db.tables import Site
from shared.identity_signature import is_valid_signature, sign_customer_id

SIGNATURE = "0" * 64


def test_the_migration_leaves_existing_sites_unsigned_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002")
    with session_scope(url) as session:
        # The table as it was at 0002 (the model has the new columns already).
        session.execute(
            text(
                "INSERT INTO sites (name, site_key, allowed_origins, active, created_at) "
                "VALUES ('Running shop', 'pk_running', '[]', 1, :now)"
            ),
            {"now": datetime.now(UTC)},
        )
    dispose_engines()
    with caplog.at_level(logging.WARNING):
        upgrade(url, "0006")
    with session_scope(url) as session:
        row = session.execute(select(Site.identity_secret, Site.require_identity_signature)).one()
    dispose_engines()
    assert tuple(row) == (None, False)
    assert "Running shop" in caplog.text and "rotate-secret" in caplog.text


def test_sites_create_shows_the_secret_once_and_rotate_secret_replaces_it(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    runner = CliRunner()
    created = runner.invoke(
        sites, ["create", "--name", "New shop", "--origin", "https://new.example"]
    )
    assert created.exit_code == 0, created.output
    key, secret = created.stdout.splitlines()[:2]
    assert key.startswith("pk_") and secret.startswith("is_")
    with session_scope(sqlite_url) as session:
        site = session.scalars(select(Site).where(Site.site_key == key)).one()
        assert (site.identity_secret, site.require_identity_signature) == (secret, True)

    rotated = runner.invoke(sites, ["rotate-secret", "New shop"])
    assert rotated.exit_code == 0, rotated.output
    new_secret = rotated.stdout.strip()
    assert new_secret.startswith("is_") and new_secret != secret
    signature = sign_customer_id(new_secret, "c-1")
    assert is_valid_signature(new_secret, "c-1", signature)
    assert not is_valid_signature(secret, "c-1", signature)

    relaxed = runner.invoke(sites, ["rotate-secret", "New shop", "--no-require"])
    assert relaxed.exit_code == 0
    with session_scope(sqlite_url) as session:
        assert session.scalar(select(Site.require_identity_signature)) is False

    missing = runner.invoke(sites, ["rotate-secret", "No such shop"])
    assert missing.exit_code != 0 and "No site is named" in missing.output


def test_a_signature_is_hex_hmac_sha256_of_the_customer_id() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"is_secret", b"c-1", hashlib.sha256).hexdigest()
    assert sign_customer_id("is_secret", "c-1") == expected
    assert is_valid_signature("is_secret", "c-1", expected.upper())
    assert not is_valid_signature("is_secret", "c-1", SIGNATURE)
    assert not is_valid_signature(None, "c-1", expected)
    assert not is_valid_signature("is_secret", "c-1", None)
