"""The Cases page: the support queue as an agent works it.

My open cases, every overdue case, and the high-risk customers nobody is on yet (a resolved
customer comes back only with a newer high score), each with who the customer is and how to
reach them; a case is handed to a colleague or resolved from here. The rules are the model
service's use cases (``model_service.followups``, ``model_service.follow_up_queue``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import HiddenField, SelectField
from wtforms.validators import DataRequired, Length, Optional

from model_service import service
from model_service.customer_contacts import contacts
from model_service.dashboard import bp
from model_service.follow_up_queue import UNRESOLVED, QueueFilter, follow_up_queue
from model_service.followups import get_follow_up
from shared.db.session import session_scope
from shared.db.tables import User
from shared.errors import KundresaError, NotFound
from shared.tasks import DEFAULT_TASK, TASKS
from shared.web import current_settings

SHOWN = 50
UNASSIGNED_SHOWN = 25


class AssignForm(FlaskForm):
    """Hand a case (``follow_up``) or a customer nobody is on yet (``customer``, ``task``)
    to a user; the choices are the active users, checked again by the use case."""

    follow_up = HiddenField(validators=[Optional(), Length(max=12)])
    customer = HiddenField(validators=[Optional(), Length(max=64)])
    task = HiddenField(validators=[Optional(), Length(max=30)])
    assignee = SelectField(validators=[DataRequired()], validate_choice=False)


class ResolveForm(FlaskForm):
    follow_up = HiddenField(validators=[DataRequired(), Length(max=12)])


def _active_users(session) -> list[str]:  # noqa: ANN001 - a session
    return list(
        session.scalars(select(User.email).where(User.active.is_(True)).order_by(User.email))
    )


def _task_arg() -> str:
    task = request.args.get("task")
    return task if task in TASKS else DEFAULT_TASK.name


@bp.get("/cases")
@login_required
def cases():
    settings = current_settings()
    task = _task_arg()
    now = datetime.now(UTC)
    with session_scope(settings.database_url) as session:
        mine = follow_up_queue(
            session, QueueFilter(status=UNRESOLVED, assignee=current_user.email), limit=SHOWN
        ).items
        overdue = follow_up_queue(session, QueueFilter(overdue=True), limit=SHOWN, now=now).items
        unassigned = service.at_risk(
            session, task, band="high", without_follow_up=True, limit=UNASSIGNED_SHOWN
        ).items
        people = contacts(session, [item.customer_id for item in unassigned])
        users = _active_users(session)
    return render_template(
        "dashboard/cases.html",
        mine=mine,
        overdue=overdue,
        unassigned=unassigned,
        people={cid: person.as_dict() for cid, person in people.items()},
        users=users,
        task=task,
        tasks=tuple(TASKS),
        form=AssignForm(),
        resolve_form=ResolveForm(),
        active="dashboard.cases",
    )


def _back():
    return redirect(url_for("dashboard.cases", task=request.form.get("back_task") or None))


def _follow_up_id(text: str | None) -> int:
    if not text or not text.isdigit():
        abort(404)
    return int(text)


@bp.post("/cases/assign")
@login_required
def assign_case():
    settings = current_settings()
    form = AssignForm()
    form.assignee.choices = [(form.assignee.data, form.assignee.data)]
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            return render_template("dashboard/error.html", code=400, csrf=True), 400
        flash(_("Choose who takes the case."), "error")
        return _back()
    assignee = form.assignee.data
    try:
        with session_scope(settings.database_url) as session:
            if form.follow_up.data:
                service.update_follow_up(
                    session,
                    _follow_up_id(form.follow_up.data),
                    author=current_user.email,
                    assignee=assignee,
                )
            else:
                task = form.task.data if form.task.data in TASKS else DEFAULT_TASK.name
                service.take_follow_up(
                    session,
                    form.customer.data or "",
                    task,
                    assignee,
                    author=current_user.email,
                    due_working_days=settings.follow_up_due_working_days,
                )
        if assignee == current_user.email:
            flash(_("You have taken this case."), "success")
        else:
            flash(_("The case is now %(user)s's.", user=assignee), "success")
    except NotFound:
        abort(404)
    except KundresaError as exc:
        flash(str(exc), "error")
    return _back()


@bp.post("/cases/resolve")
@login_required
def resolve_case():
    settings = current_settings()
    form = ResolveForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            return render_template("dashboard/error.html", code=400, csrf=True), 400
        abort(404)
    try:
        with session_scope(settings.database_url) as session:
            case = get_follow_up(session, _follow_up_id(form.follow_up.data))
            service.update_follow_up(
                session, case["id"], author=current_user.email, status="resolved"
            )
        flash(_("Case resolved."), "success")
    except NotFound:
        abort(404)
    except KundresaError as exc:
        flash(str(exc), "error")
    return _back()
