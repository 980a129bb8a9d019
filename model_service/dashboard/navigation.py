"""The dashboard's main menu: one entry per line, so a new page adds one line here.

Each entry names its endpoint, its label (lazily translated) and the roles that see it; the
layout draws the entries the signed-in user's role may open.
"""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

ALL_ROLES = frozenset({"admin", "support"})
ADMIN_ONLY = frozenset({"admin"})


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object  # a lazy string: translated when the page is drawn, in the user's language
    roles: frozenset[str] = ALL_ROLES


NAV: tuple[NavItem, ...] = (
    NavItem("dashboard.at_risk", _l("At risk")),
    NavItem("dashboard.open_carts", _l("Open carts")),
    NavItem("dashboard.journey_map", _l("Journey map")),
    NavItem("dashboard.critical_journeys", _l("Critical journeys")),
    NavItem("dashboard.feedback", _l("Feedback")),
    NavItem("dashboard.models", _l("Models")),
    NavItem("dashboard.surveys", _l("Surveys"), ADMIN_ONLY),  # the editor; support: results
    NavItem("dashboard.survey_performance", _l("Surveys"), ALL_ROLES - ADMIN_ONLY),
    NavItem("dashboard.webhooks", _l("Webhooks"), ADMIN_ONLY),
)


def nav_for(role: str | None) -> list[NavItem]:
    """The entries a user with ``role`` may open, in menu order."""
    return [item for item in NAV if role in item.roles]
