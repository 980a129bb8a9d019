"""The shop's admin link of a customer: http(s) templates with one {id}, the id URL-encoded,
set per site with `kundresa sites set-external-url`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from kundresa.admin import sites
from shared.auth import create_site
from shared.customer_links import check_external_url, external_link
from shared.db.session import session_scope
from shared.db.tables import Site
from shared.errors import Invalid


@pytest.mark.parametrize(
    "template",
    [
        "javascript:alert(1)//{id}",
        "ftp://shop.example/{id}",
        "https:///{id}",
        "https://shop.example/customers",
        "https://shop.example/{id}/{id}",
        "https://shop.example/a b/{id}",
        "",
        "https://shop.example/" + "x" * 500 + "{id}",
    ],
)
def test_templates_other_than_http_with_one_id_are_refused(template: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_external_url(template)
    assert refused.value.errors and "external_url" in refused.value.errors


def test_the_id_is_url_encoded_into_the_template() -> None:
    template = check_external_url(" https://shop.example/admin/customers/{id}?tab=orders ")
    assert external_link(template, "a/b c?&") == (
        "https://shop.example/admin/customers/a%2Fb%20c%3F%26?tab=orders"
    )
    assert external_link(None, "c1") is None


def test_the_command_sets_a_sites_template(sqlite_url: str, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key-long-enough-for-the-32-byte-rule")
    create_site(sqlite_url, "Shop", ["https://shop.example"])
    runner = CliRunner()
    done = runner.invoke(sites, ["set-external-url", "Shop", "https://shop.example/c/{id}"])
    assert done.exit_code == 0, done.output
    refused = runner.invoke(sites, ["set-external-url", "Shop", "javascript:{id}"])
    assert refused.exit_code == 1 and "http" in refused.output
    unknown = runner.invoke(sites, ["set-external-url", "Nope", "https://x.example/{id}"])
    assert unknown.exit_code == 1 and "No site is named" in unknown.output
    with session_scope(sqlite_url) as session:
        assert session.scalar(select(Site.external_url)) == "https://shop.example/c/{id}"
