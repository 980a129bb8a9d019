"""Who a customer is, for the people who call them: name, e-mail, phone and the link into
the shop's admin. Personal data: only the signed-in dashboard and the support API show it,
and nothing here logs it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.customer_links import external_link
from shared.db.tables import Customer, JourneyEvent, Site


@dataclass(frozen=True)
class Contact:
    customer_id: str
    name: str | None
    email: str | None
    phone: str | None
    external_url: str | None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "external_url": self.external_url,
        }


def contacts(session: Session, customer_ids: list[str]) -> dict[str, Contact]:
    """The contact of each known customer among ``customer_ids``.

    The shop is the customer's own site when the import named one, else the site of their
    newest event, else the only site when there is just one.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Customer.id, Customer.name, Customer.email, Customer.phone, Customer.site_id).where(
            Customer.id.in_(ids)
        )
    ).all()
    templates = dict(session.execute(select(Site.id, Site.external_url)).all())
    only_site = next(iter(templates)) if len(templates) == 1 else None
    unknown_site = [row.id for row in rows if row.site_id is None]
    event_sites = _newest_event_sites(session, unknown_site) if unknown_site and templates else {}
    found = {}
    for row in rows:
        site = row.site_id or event_sites.get(row.id) or only_site
        found[row.id] = Contact(
            customer_id=row.id,
            name=row.name,
            email=row.email,
            phone=row.phone,
            external_url=external_link(templates.get(site), row.id),
        )
    return found


def _newest_event_sites(session: Session, customer_ids: list[str]) -> dict[str, int]:
    newest = (
        select(JourneyEvent.customer_id, func.max(JourneyEvent.occurred_at).label("at"))
        .where(JourneyEvent.customer_id.in_(customer_ids), JourneyEvent.site_id.is_not(None))
        .group_by(JourneyEvent.customer_id)
        .subquery()
    )
    rows = session.execute(
        select(JourneyEvent.customer_id, JourneyEvent.site_id).join(
            newest,
            (JourneyEvent.customer_id == newest.c.customer_id)
            & (JourneyEvent.occurred_at == newest.c.at),
        )
    ).all()
    return {row.customer_id: row.site_id for row in rows}
