"""An imported customer (name, e-mail, phone, attributes) is in the privacy export and gone
after erasure, including from webhook events that named them."""

from __future__ import annotations

import json
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select

from model_service.followups import take_follow_up
from shared.db.session import session_scope
from shared.db.tables import OutboxEvent
from tests.survey_service.test_erasure_everywhere import _where_held
from training.customer_import import import_customers

PERSON = ("cust-7731", "Greta Lind", "greta.lind@example.com", "+46 8 555 0101", "VIP-7731")


def test_erase_removes_the_imported_person_everywhere(
    client: FlaskClient, admin: dict, database_url: str, tmp_path: Path
) -> None:
    customer_id, name, email, phone, card = PERSON
    path = tmp_path / "customers.csv"
    path.write_text(
        f"id,name,email,phone,loyalty card\n{customer_id},{name},{email},{phone},{card}\n"
    )
    import_customers(database_url, path)
    with session_scope(database_url) as session:
        take_follow_up(session, customer_id, "brand_switch", "agent@shop.example")
    assert set(_where_held(database_url, *PERSON)) >= {
        "customers.id",
        "customers.name",
        "customers.email",
        "customers.phone",
        "customers.attributes",
        "outbox_events.payload",
    }

    export = client.get(f"/v1/admin/customers/{customer_id}/export", headers=admin)
    assert export.status_code == 200
    held = export.json["customer"]
    assert (held["name"], held["email"], held["phone"]) == (name, email, phone)
    assert held["attributes"] == {"loyalty card": card}
    assert [e["event"] for e in export.json["outbox_events"]] == ["follow_up.changed"]

    erased = client.delete(f"/v1/admin/customers/{customer_id}", headers=admin)
    assert erased.status_code == 200
    assert erased.json["customer"] == 1 and erased.json["outbox_events"] == 1
    assert _where_held(database_url, *PERSON) == []
    with session_scope(database_url) as session:
        # The webhook events that named the customer are gone with the rest of their data.
        assert session.scalars(select(OutboxEvent)).all() == []
    assert name not in json.dumps(erased.json)
