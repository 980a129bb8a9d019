"""A site's survey fatigue settings, read and changed by the admin API, the ``kundresa sites
set`` command and the dashboard's survey editor alike (validated by ``SiteFatiguePatchSchema``).

A site is named by its name; names are not unique in the table, so a change to a name several
sites share is refused rather than applied to all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from shared.db.session import session_scope
from shared.db.tables import Site
from shared.errors import Conflict, Invalid, NotFound
from shared.schemas.sites import FATIGUE_FIELDS, SiteFatiguePatchSchema

SITE_FIELDS = (
    "name",
    "site_key",
    "allowed_origins",
    "active",
    "require_identity_signature",
    *FATIGUE_FIELDS,
)


def site_record(row: Site) -> dict[str, Any]:
    return {name: getattr(row, name) for name in SITE_FIELDS}


def list_sites(database_url: str) -> list[dict[str, Any]]:
    with session_scope(database_url) as session:
        return [site_record(s) for s in session.scalars(select(Site).order_by(Site.name, Site.id))]


def update_fatigue(database_url: str, name: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Set some of the site's fatigue limits (validated here too: the CLI has no schema)."""
    errors = SiteFatiguePatchSchema().validate(dict(changes))
    if errors:
        raise Invalid(errors=errors)
    with session_scope(database_url) as session:
        rows = session.scalars(select(Site).where(Site.name == name)).all()
        if not rows:
            raise NotFound(errors={"name": ["No site has this name."]})
        if len(rows) > 1:
            raise Conflict(errors={"name": ["Several sites have this name."]})
        for field, value in SiteFatiguePatchSchema().load(dict(changes)).items():
            setattr(rows[0], field, value)
        session.flush()
        return site_record(rows[0])
