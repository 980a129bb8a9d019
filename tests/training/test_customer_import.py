"""`kundresa import customers`: who the customers are, with --map for other headers, extra
columns kept as attributes, bad rows reported by line (never by value) and nothing half-written."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from shared.auth import create_site
from shared.db.session import session_scope
from shared.db.tables import Customer
from training.cli import import_group
from training.customer_import import import_customers, parse_mapping
from training.importers import ImportFailed

SHOP_EXPORT = """\
Customer No,Full Name,E-mail,Mobile,Tier,Newsletter
c1,Anna Berg,anna@example.com,+46 70 123 45 67,gold,yes
c2,Bo Ek,bo@example.com,,silver,
c3,,,,,
"""


def _write(folder: Path, text: str, name: str = "customers.csv") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _customers(database_url: str) -> dict[str, Customer]:
    with session_scope(database_url) as session:
        rows = session.scalars(select(Customer)).all()
        session.expunge_all()
    return {row.id: row for row in rows}


def test_import_with_map_keeps_other_columns_as_attributes_and_updates_known_ones(
    database_url: str, tmp_path: Path
) -> None:
    with session_scope(database_url) as session:
        session.add(Customer(id="c2", segment="regular", consent=True))
    site = create_site(database_url, "Shop", ["https://shop.example"])
    path = _write(tmp_path, SHOP_EXPORT)
    mapping = parse_mapping(["id=Customer No,name=Full Name", "email=E-mail", "phone=Mobile"])
    report = import_customers(database_url, path, mapping, site=site)
    assert (report.rows, report.added, report.updated, report.unchanged) == (3, 2, 1, 0)
    people = _customers(database_url)
    anna = people["c1"]
    assert (anna.name, anna.email, anna.phone) == (
        "Anna Berg",
        "anna@example.com",
        "+46 70 123 45 67",
    )
    assert anna.attributes == {"Tier": "gold", "Newsletter": "yes"}
    assert anna.site_id is not None and anna.consent is False
    # A known customer keeps what the import does not carry (segment, consent).
    assert (people["c2"].segment, people["c2"].consent, people["c2"].email) == (
        "regular",
        True,
        "bo@example.com",
    )
    assert people["c3"].name is None and people["c3"].attributes is None
    again = import_customers(database_url, path, mapping, site=site)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)


def test_bad_rows_are_reported_by_line_and_nothing_is_written(database_url, tmp_path) -> None:
    text = (
        "id,name,email,phone\n"
        "ok-1,Anna,anna@example.com,+4670123\n"
        "ok-2,Bo,not-an-address,\n"
        ",Nameless,,\n"
        "ok-1,Again,,\n"
        "ok-3,Cy,,call me\n"
    )
    path = _write(tmp_path, text)
    try:
        import_customers(database_url, path)
    except ImportFailed as failed:
        errors = failed.errors
    else:
        raise AssertionError("a file with bad rows was imported")
    assert errors == [
        "line 3: email is not an e-mail address",
        "line 4: id is empty",
        "line 5: id is already on line 2",
        "line 6: phone is not a phone number (digits, spaces, + - ( ) only)",
    ]
    assert "not-an-address" not in " ".join(errors)  # personal data is not echoed
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_the_command_maps_headers_shows_progress_and_refuses_bad_files(database_url, tmp_path):
    path = _write(tmp_path, SHOP_EXPORT)
    env = {"DATABASE_URL": database_url}
    runner = CliRunner()
    result = runner.invoke(
        import_group,
        [
            "customers",
            str(path),
            "--map",
            "id=Customer No,name=Full Name,email=E-mail,phone=Mobile",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert (
        "Imported 3 customers from customers.csv: 3 new, 0 updated, 0 unchanged." in result.output
    )
    missing = runner.invoke(import_group, ["customers", str(path)], env=env)
    assert missing.exit_code != 0 and "column 'id' (id) is not in the header" in missing.output
    unknown = runner.invoke(import_group, ["customers", str(path), "--map", "age=Tier"], env=env)
    assert unknown.exit_code == 2 and "unknown field 'age'" in unknown.output
    bad = _write(tmp_path, "id,email\nx1,nope\n", "bad.csv")
    refused = runner.invoke(import_group, ["customers", str(bad)], env=env)
    assert refused.exit_code == 1
    assert "line 2: email is not an e-mail address" in refused.output
    assert "nothing was imported" in refused.output
