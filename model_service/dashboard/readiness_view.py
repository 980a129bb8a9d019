"""Purchase readiness on the customer page and the at-risk lists: template globals, so the
pages' own views stay as they are (a line in each template calls these)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_babel import gettext as _
from markupsafe import Markup, escape

from model_service.dashboard import bp
from model_service.dashboard.formatting import STAGE_LABELS, label
from model_service.readiness import readiness_of_customers
from shared.readiness import cart_readiness, stage_of_step
from shared.web import current_settings


def _text(step: int) -> str:
    return _("Readiness %(pct)s %%", pct=step)


@bp.app_template_global("readiness_of_rows")
def readiness_of_rows(rows) -> dict[tuple, int]:
    """Readiness per (customer, cart) of an at-risk page's rows, in one read; an open cart is
    placed between desire and checkout (an anonymous one at its first step, 50 %)."""
    items = [row.item for row in rows]
    found = readiness_of_customers(
        current_settings().database_url,
        [item.customer_id for item in items if item.customer_id],
        datetime.now(UTC),
    )
    steps = {}
    for item in items:
        step = found.get(item.customer_id) if item.customer_id else None
        if item.cart_id:
            step = cart_readiness(step)
        if step is not None:
            steps[(item.customer_id, item.cart_id)] = step
    return steps


@bp.app_template_global("readiness_pill")
def readiness_pill(steps: dict[tuple, int], item) -> Markup:
    step = steps.get((item.customer_id, item.cart_id))
    if step is None:
        return Markup("")
    title = label(STAGE_LABELS, stage_of_step(step))
    return Markup(f'<div class="sub readiness" title="{escape(title)}">{escape(_text(step))}</div>')


@bp.app_template_global("customer_readiness")
def customer_readiness(customer_id: str) -> str:
    """The customer's readiness as the customer page shows it ("—" without events)."""
    found = readiness_of_customers(
        current_settings().database_url, [customer_id], datetime.now(UTC)
    )
    step = found.get(customer_id)
    if step is None:
        return "—"
    return f"{step} % · {label(STAGE_LABELS, stage_of_step(step))}"
