"""Each site's currency (ISO 4217, ``sites.currency``): what order values and value at risk
are shown in. One shop sells in one currency; SEK when nobody said otherwise."""

from __future__ import annotations

from babel.numbers import list_currencies
from sqlalchemy import select, update

from shared.db.session import session_scope
from shared.db.tables import Site

DEFAULT_CURRENCY = "SEK"


def valid_currency(code: str) -> str | None:
    """The code in capitals when it is an ISO 4217 currency Babel knows, else None."""
    code = (code or "").strip().upper()
    return code if code in list_currencies() else None


def set_site_currency(database_url: str, site_name: str, code: str) -> bool:
    """Set the currency of the site named ``site_name``; False when there is no such site."""
    with session_scope(database_url) as session:
        result = session.execute(update(Site).where(Site.name == site_name).values(currency=code))
        return bool(result.rowcount)


def configured_currency(database_url: str) -> str:
    """The currency the dashboard shows money in: the oldest active site's (the dashboard
    serves one shop), SEK when there is no site yet."""
    with session_scope(database_url) as session:
        code = session.scalar(
            select(Site.currency).where(Site.active.is_(True)).order_by(Site.id).limit(1)
        )
    return code or DEFAULT_CURRENCY
