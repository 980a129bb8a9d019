"""Where webhooks may not go (SSRF): not http(s), credentials in the URL, and hosts that
resolve to private, loopback, link-local or otherwise non-public addresses, checked at
registration and again at every delivery (DNS rebinding)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from shared.db.session import session_scope
from shared.db.tables import WebhookDelivery
from shared.errors import Invalid
from shared.outbox import enqueue
from shared.webhooks.addresses import AddressRefused, resolve
from shared.webhooks.delivery import deliver_due
from shared.webhooks.endpoints import create_endpoint
from tests.conftest import make_settings

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com",
        "http://",
        "https://user:pass@example.com/hook",
        "http://example.com:99999/hook",
        "http://exa mple.com/hook",
        "https://example.com/" + "a" * 2000,
    ],
)
def test_urls_that_are_not_plain_http_are_refused(url: str) -> None:
    with pytest.raises(AddressRefused):
        resolve(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.5/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",  # the cloud's metadata service
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://0.0.0.0/hook",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[fd00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://224.0.0.1/hook",
        "http://2130706433/hook",  # 127.0.0.1 as one number
    ],
)
def test_inward_addresses_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(AddressRefused, match="private, loopback or link-local"):
        resolve(url, allow_private=False)
    if "224.0.0.1" not in url and "0.0.0.0" not in url:
        assert resolve(url, allow_private=True).address


def test_a_public_address_is_taken_as_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.215.14", 443))]
    )
    target = resolve("https://hooks.example.com/in?x=1", allow_private=False)
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https",
        "hooks.example.com",
        443,
        "/in?x=1",
        "93.184.215.14",
    )


def test_a_name_that_also_resolves_inward_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [(2, 1, 6, "", ("93.184.215.14", 80)), (2, 1, 6, "", ("10.0.0.7", 80))],
    )
    with pytest.raises(AddressRefused):
        resolve("http://hooks.example.com/", allow_private=False)


@sqlite_only
def test_registration_names_the_url_field(tmp_path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url)  # private addresses not allowed
    with pytest.raises(Invalid) as refused:
        create_endpoint(
            settings, url="http://127.0.0.1:9/x", events=["model.promoted"], created_by="a"
        )
    assert list(refused.value.errors) == ["url"]


@sqlite_only
def test_a_name_that_turns_inward_after_registration_gets_nothing(
    tmp_path, database_url: str, monkeypatch: pytest.MonkeyPatch, receivers
) -> None:
    """DNS rebinding: public when registered, 127.0.0.1 when delivered to."""
    receiver = receivers()
    settings = make_settings(tmp_path, database_url)
    public = [(2, 1, 6, "", ("93.184.215.14", receiver.port))]
    inward = [(2, 1, 6, "", ("127.0.0.1", receiver.port))]
    answers = {"now": public}
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers["now"])
    create_endpoint(
        settings,
        url=f"http://rebind.example:{receiver.port}/hook",
        events=["model.promoted"],
        created_by="a",
    )
    with session_scope(database_url) as session:
        enqueue(session, "model.promoted", {"task": "t", "version": "2"})
    answers["now"] = inward

    summary = deliver_due(settings, now=datetime(2026, 12, 1, tzinfo=UTC))

    assert summary["retrying"] == 1
    assert receiver.received == []
    with session_scope(database_url) as session:
        error = session.scalar(select(WebhookDelivery.last_error))
    assert error.startswith("refused: The host resolves to a private")
