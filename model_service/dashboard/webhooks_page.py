"""Webhooks (admins only): endpoints, recent deliveries with their status, re-sending.

A new endpoint's secret is shown on the page that answers the form, once: it is not put in a
flash message, which would carry it in the session cookie. Receivers' answers are shown as
text (Jinja escapes them; the Content-Security-Policy is the second wall).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from model_service.dashboard import bp
from shared.errors import KundresaError, NotFound
from shared.outbox import EVENTS
from shared.schemas.fields import MAX_INT
from shared.web import current_settings
from shared.webhooks import deliveries, endpoints
from shared.webhooks.addresses import MAX_URL_LENGTH

RECENT_DELIVERIES = 50
EXCERPT_SHOWN = 300
ENDPOINT_ACTIONS = ("activate", "deactivate", "delete")
# The refusals of shared.webhooks.addresses, in the reader's language.
URL_REFUSALS = {
    "Not a valid URL.": _l("Not a valid URL."),
    "Use an http or https URL.": _l("Use an http or https URL."),
    "The URL has no host.": _l("The URL has no host."),
    "Put no user name or password in the URL; the signature proves the sender.": _l(
        "Put no user name or password in the URL; the signature proves the sender."
    ),
    "The URL may not contain spaces or control characters.": _l(
        "The URL may not contain spaces or control characters."
    ),
    "The host name does not resolve.": _l("The host name does not resolve."),
    "The host resolves to a private, loopback or link-local address, which is refused.": _l(
        "The host resolves to a private, loopback or link-local address, which is refused."
    ),
}


class EndpointForm(FlaskForm):
    url = StringField(_l("URL"), validators=[DataRequired(), Length(max=MAX_URL_LENGTH)])
    events = SelectMultipleField(
        _l("Events"),
        choices=[SelectChoice(event, event) for event in EVENTS],
        validators=[DataRequired()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    description = StringField(_l("Description"), validators=[Optional(), Length(max=200)])
    active = BooleanField(_l("Active"), default=True)


class EndpointActionForm(FlaskForm):
    action = HiddenField(validators=[DataRequired()])


class ResendForm(FlaskForm):
    pass


def _admins_only(*ids: int) -> None:
    if getattr(current_user, "role", None) != "admin":
        abort(403)
    if any(i > MAX_INT for i in ids):  # no row has it, and PostgreSQL would refuse it
        abort(404)


def _page(form: EndpointForm, secret: str | None = None, status: int = 200):
    database_url = current_settings().database_url
    found = endpoints.list_endpoints(database_url)
    recent, total = deliveries.list_deliveries(database_url, limit=RECENT_DELIVERIES)
    counts = {
        status: deliveries.list_deliveries(database_url, status=status, limit=1)[1]
        for status in deliveries.STATUSES
    }
    return (
        render_template(
            "dashboard/webhooks.html",
            form=form,
            action_form=EndpointActionForm(),
            resend_form=ResendForm(),
            endpoints=found,
            urls={e["id"]: e["url"] for e in found},
            deliveries=recent,
            total=total,
            counts=counts,
            secret=secret,
            excerpt_shown=EXCERPT_SHOWN,
            allow_private=current_settings().webhooks_allow_private,
        ),
        status,
    )


@bp.get("/webhooks")
@login_required
def webhooks():
    _admins_only()
    return _page(EndpointForm())


@bp.post("/webhooks")
@login_required
def add_webhook():
    _admins_only()
    form = EndpointForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            return render_template("dashboard/error.html", code=400, csrf=True), 400
        return _page(form, status=422)
    try:
        _endpoint, secret = endpoints.create_endpoint(
            current_settings(),
            url=form.url.data.strip(),
            events=form.events.data,
            description=(form.description.data or "").strip() or None,
            active=form.active.data,
            created_by=current_user.email,
        )
    except KundresaError as refusal:
        for field, messages in refusal.errors.items():
            if field in form:
                form[field].errors = [str(URL_REFUSALS.get(m, m)) for m in messages]
        return _page(form, status=422)
    flash(_("Endpoint added. Copy its secret now: it is not shown again."), "success")
    return _page(EndpointForm(formdata=None), secret=secret, status=201)


@bp.post("/webhooks/endpoints/<int:endpoint_id>")
@login_required
def change_webhook(endpoint_id: int):
    _admins_only(endpoint_id)
    form = EndpointActionForm()
    if not form.validate_on_submit() or form.action.data not in ENDPOINT_ACTIONS:
        abort(400)
    settings = current_settings()
    try:
        if form.action.data == "delete":
            endpoints.delete_endpoint(settings.database_url, endpoint_id)
            flash(_("Endpoint deleted."), "success")
        else:
            active = form.action.data == "activate"
            endpoints.update_endpoint(settings, endpoint_id, {"active": active})
            flash(_("Endpoint turned on.") if active else _("Endpoint turned off."), "success")
    except NotFound:
        abort(404)
    return redirect(url_for("dashboard.webhooks"))


@bp.post("/webhooks/deliveries/<int:delivery_id>/resend")
@login_required
def resend_webhook(delivery_id: int):
    _admins_only(delivery_id)
    if not ResendForm().validate_on_submit():
        abort(400)
    try:
        deliveries.resend(current_settings().database_url, delivery_id, datetime.now(UTC))
    except NotFound:
        abort(404)
    flash(_("Delivery %(id)s will be sent again.", id=delivery_id), "success")
    return redirect(url_for("dashboard.webhooks"))
