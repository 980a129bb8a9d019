"""At-risk customers, open carts, the customer page and follow-ups: who to call, what to say.

The lists and the follow-up rules are the model service's use cases (``model_service.service``);
these views only turn query arguments into a call and the result into a page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from model_service import service
from model_service.champions import ServedModel
from model_service.dashboard import bp, charts
from model_service.dashboard.advice import (
    answer_reason_label,
    explain_reasons,
    suggest_action,
)
from model_service.dashboard.at_risk_rows import (
    iter_at_risk_rows,
    latest_answers,
    latest_follow_ups,
    open_cases_of,
)
from model_service.dashboard.export_headings import headings
from model_service.dashboard.filters import cached_choices
from model_service.dashboard.formatting import (
    BAND_LABELS,
    STAGE_LABELS,
    STATUS_LABELS,
    TASK_LABELS,
    code_label,
    label,
    percent,
    probability,
    when,
)
from model_service.dashboard.forms import FollowUpForm
from model_service.dashboard.score_figures import SUMMARY_CACHE, last_scored, risk_summary
from model_service.dashboard.timeline import fold_timeline, span_text
from model_service.followups import customer_follow_ups, offered_again
from model_service.predict import EXTENSION
from model_service.risk import DEFAULT_SORT, SORTS, AtRiskItem
from model_service.served_scale import batch_percentiles, staleness
from shared.csv_export import csv_download
from shared.cursors import BadCursor
from shared.db.session import session_scope
from shared.errors import KundresaError, NotFound
from shared.journey import STAGES
from shared.tasks import BANDS, BRAND_SWITCH, CART_ABANDONMENT, DEFAULT_TASK, TASKS
from shared.web import current_settings

PAGE_SIZE = 25
TIMELINE_SHOWN = 60


@dataclass(frozen=True)
class ListFilter:
    task: str
    stage: str | None
    segment: str | None
    band: str | None
    without_follow_up: bool
    sort: str
    # The journey map and the critical journeys link to a stage × segment × category.
    category: str | None = None

    def args(self, **extra: object) -> dict:
        """Query arguments that reproduce this filter (for links and the CSV export)."""
        values = {
            "stage": self.stage,
            "segment": self.segment,
            "band": self.band,
            "no_follow_up": "1" if self.without_follow_up else None,
            "sort": self.sort if self.sort != DEFAULT_SORT else None,
            "category": self.category,
            **extra,
        }
        return {k: v for k, v in values.items() if v}

    def query(self) -> dict:
        """Keyword arguments of the at-risk queries (the list and the CSV export)."""
        return {
            "stage": self.stage,
            "segment": self.segment,
            "band": self.band,
            "without_follow_up": self.without_follow_up,
            "sort": self.sort,
            "category": self.category,
        }


def _locale() -> str:
    return str(get_locale() or "en")


def _served(task: str) -> ServedModel | None:
    registry = current_app.extensions.get(EXTENSION)
    return registry.get(task) if registry is not None else None


def _list_filter(task: str, segments: list[str], categories: Sequence[str] = ()) -> ListFilter:
    args = request.args
    stage = args.get("stage") if args.get("stage") in STAGES else None
    segment = args.get("segment") if args.get("segment") in segments else None
    band = args.get("band") if args.get("band") in BANDS else None
    sort = args.get("sort") if args.get("sort") in SORTS else DEFAULT_SORT
    category = args.get("category") if args.get("category") in categories else None
    return ListFilter(task, stage, segment, band, args.get("no_follow_up") == "1", sort, category)


@dataclass(frozen=True)
class Row:
    """One line of the at-risk table, with everything the agent needs to act on it."""

    item: AtRiskItem
    follow_up: dict | None
    reasons: list[dict]
    action: str | None
    answer: dict | None
    answer_reason: str | None


def _rows(session, task: str, items: list[AtRiskItem]) -> list[Row]:
    locale = _locale()
    ids = [item.customer_id for item in items]
    answers = latest_answers(session, ids)
    follow_ups = latest_follow_ups(session, task, ids)
    rows = []
    for item in items:
        answer = answers.get(item.customer_id)
        rows.append(
            Row(
                item=item,
                follow_up=follow_ups.get(item.customer_id),
                reasons=explain_reasons(item.reasons, locale),
                action=suggest_action(item.reasons, answer, locale),
                answer=answer,
                answer_reason=answer_reason_label(answer.get("reason"), locale) if answer else None,
            )
        )
    return rows


def _risk_list(task: str, template_active: str):
    settings = current_settings()
    with session_scope(settings.database_url) as session:
        segments, categories = cached_choices(settings.database_url, session)
        flt = _list_filter(task, segments, categories)
        cursor = request.args.get("cursor") or None
        try:
            page = service.at_risk(session, task, limit=PAGE_SIZE, cursor=cursor, **flt.query())
        except BadCursor:
            flash(_("That page link had expired; here is the first page."), "info")
            return redirect(url_for(request.endpoint, **flt.args()))
        rows = _rows(session, task, page.items)
        # The tiles may be half a minute old; the list below them is always live.
        summary = SUMMARY_CACHE.get(
            (settings.database_url, task), lambda: risk_summary(session, task)
        )
        my_cases = open_cases_of(session, current_user.email)
        scored = last_scored(session).get(task)
        served = _served(task)
        stale = staleness(session, task, served)
    page_number = max(1, request.args.get("page", 1, type=int) or 1)
    return render_template(
        "dashboard/at_risk.html",
        task=task,
        entity=TASKS[task].entity,
        rows=rows,
        flt=flt,
        segments=segments,
        categories=categories,
        stages=STAGES,
        bands=BANDS,
        summary=summary,
        my_cases=my_cases,
        scored=scored,
        served=served,
        definition=served.definition_text(_locale()) if served else None,
        stale=stale,
        default_sort=DEFAULT_SORT,
        next_url=url_for(
            request.endpoint, **flt.args(cursor=page.next_cursor, page=page_number + 1)
        )
        if page.next_cursor
        else None,
        first_url=url_for(request.endpoint, **flt.args()) if cursor else None,
        first_index=(page_number - 1) * PAGE_SIZE + 1,
        export_url=url_for("dashboard.export_csv", task=task, **flt.args()),
        meter=charts.probability_meter,
        active=template_active,
    )


@bp.get("/")
@login_required
def at_risk():
    return _risk_list(BRAND_SWITCH.name, "dashboard.at_risk")


@bp.get("/carts")
@login_required
def open_carts():
    return _risk_list(CART_ABANDONMENT.name, "dashboard.open_carts")


CSV_COLUMNS = (
    "customer_id",
    "cart_id",
    "task",
    "probability",
    "band",
    "stage",
    "segment",
    "product_category",
    "value",
    "value_at_risk",
    "reasons",
    "suggested_action",
    "follow_up_status",
    "assignee",
    "latest_nps",
    "latest_csat",
    "latest_ces",
    "latest_reason",
    "latest_comment",
    "model_version",
    "scored_at",
)


def _csv_line(row, answers: dict, follow_ups: dict, locale: str, codes: bool) -> tuple:
    answer = answers.get(row.customer_id) or {}
    follow_up = follow_ups.get(row.customer_id) or {}
    value_at_risk = row.probability * (row.value or 0.0)

    def words(table: dict, value: str | None) -> str:
        return (value or "") if codes or not value else label(table, value)

    def code_words(kind: str, value: str | None) -> str:
        return (value or "") if codes or not value else code_label(value, kind)

    return (
        row.customer_id,
        row.cart_id or "",
        words(TASK_LABELS, row.task),
        f"{row.probability:.4f}",
        words(BAND_LABELS, row.band),
        words(STAGE_LABELS, row.stage),
        code_words("segment", row.segment),
        code_words("category", row.product_category),
        "" if row.value is None else f"{row.value:.2f}",
        f"{value_at_risk:.2f}",
        "; ".join(r["text"] for r in explain_reasons(row.reasons, locale)),
        suggest_action(row.reasons, answer, locale) or "",
        words(STATUS_LABELS, follow_up.get("status")),
        follow_up.get("assignee", ""),
        answer.get("nps", ""),
        answer.get("csat", ""),
        answer.get("ces", ""),
        answer.get("reason") or "",
        answer.get("comment") or "",
        row.model_version,
        row.scored_at.isoformat(),
    )


@bp.get("/export.csv")
@login_required
def export_csv():
    settings = current_settings()
    task = request.args.get("task") if request.args.get("task") in TASKS else DEFAULT_TASK.name
    with session_scope(settings.database_url) as session:
        segments, categories = cached_choices(settings.database_url, session)
    flt = _list_filter(task, segments, categories)
    locale = _locale()
    codes = request.args.get("headings") == "codes"

    def rows() -> Iterator[tuple]:
        with session_scope(settings.database_url) as session:
            for chunk in iter_at_risk_rows(session, task, **flt.query()):
                ids = [row.customer_id for row in chunk]
                answers = latest_answers(session, ids)
                follow_ups = latest_follow_ups(session, task, ids)
                for row in chunk:
                    yield _csv_line(row, answers, follow_ups, locale, codes)

    filename = f"kundresa-{task.replace('_', '-')}-{date.today().isoformat()}.csv"
    return csv_download(headings(CSV_COLUMNS, codes), rows(), filename)


# --- customer page ------------------------------------------------------------------------------

TIMELINE_KIND = {
    "purchase": "purchase",
    "add_to_cart": "cart",
    "checkout_started": "cart",
    "cart_abandoned": "cart",
    "remove_from_cart": "cart",
    "support_contact": "support",
    "refund": "refund",
    "review": "advocacy",
    "referral": "advocacy",
}


def _risk_chart(history: list[dict]) -> charts.Markup:
    series = []
    for i, task in enumerate(TASKS):
        points = [(h["as_of"], h["probability"]) for h in history if h["task"] == task]
        if points:
            series.append(charts.Series(label(TASK_LABELS, task), points, f"series-{i}"))
    return charts.line_chart(
        series,
        title=_("Risk over time"),
        axis=charts.Axis(0.0, 1.0, fmt=lambda v: percent(v)),
        x_label=lambda d: when(d.date() if hasattr(d, "date") else d, "short"),
        empty_text=_("Not scored yet"),
        height=200,
        value_fmt=probability,
    )


@bp.get("/customers/<customer_id>")
@login_required
def customer(customer_id: str):
    settings = current_settings()
    locale = _locale()
    with session_scope(settings.database_url) as session:
        profile = service.customer_profile(session, customer_id)
        if profile is None:
            abort(404)
        answers = latest_answers(session, [customer_id])
    answer = answers.get(customer_id)
    latest_by_task: dict[str, dict] = {}
    for score in profile["risk_history"]:
        latest_by_task[score["task"]] = score
    # The first task (in the order of shared.tasks) the customer has a score of.
    main = next((latest_by_task[task] for task in TASKS if task in latest_by_task), None)
    served = _served(main["task"]) if main else None
    if main:
        with session_scope(settings.database_url) as session:
            main["percentile"] = batch_percentiles(
                session, main["task"], [(main["probability"], main["as_of"], main["model_version"])]
            )[0]
    reasons = explain_reasons(main["reasons"], locale) if main else []
    action = suggest_action(main["reasons"] if main else None, answer, locale)
    open_cases = {f["task"]: f for f in profile["follow_ups"] if f["status"] != "resolved"}
    case_states = _case_states(profile["follow_ups"], latest_by_task)
    timeline = list(reversed(profile["timeline"]))
    channels = Counter(
        entry["channel"] for entry in timeline if entry["kind"] == "event" and entry.get("channel")
    ).most_common()
    show_all = request.args.get("all") == "1"
    timeline = fold_timeline(timeline)
    return render_template(
        "dashboard/customer.html",
        profile=profile,
        main=main,
        served=served,
        definition=served.definition_text(locale) if served else None,
        latest_by_task=latest_by_task,
        tasks=tuple(TASKS),
        reasons=reasons,
        action=action,
        answer=answer,
        answer_reason=answer_reason_label(answer.get("reason"), locale) if answer else None,
        open_cases=open_cases,
        case_states=case_states,
        contact=profile["contact"],
        span=lambda line: span_text(line, locale),
        closed_cases=[f for f in profile["follow_ups"] if f["status"] == "resolved"],
        timeline=timeline if show_all else timeline[:TIMELINE_SHOWN],
        timeline_more=len(timeline) - TIMELINE_SHOWN if not show_all else 0,
        timeline_kind=TIMELINE_KIND,
        channels=channels,
        risk_chart=_risk_chart(profile["risk_history"]),
        form=FollowUpForm(),
        answer_label=lambda code: answer_reason_label(code, locale),
        active="dashboard.at_risk",
    )


def _case_states(follow_ups: list[dict], latest_by_task: dict[str, dict]) -> dict[str, dict]:
    """Per task, the newest resolved case and whether the customer is offered again (only
    with a score made after it that is high): the card says "resolved on … by …" instead
    of inviting a second call about the same risk."""
    states: dict[str, dict] = {}
    for case in follow_ups:  # newest first
        if case["status"] != "resolved" or case["task"] in states:
            continue
        newest = latest_by_task.get(case["task"])
        states[case["task"]] = {
            "case": case,
            "risk_now": newest["probability"] if newest else None,
            "offered": offered_again(
                case["resolved_at"],
                newest["as_of"] if newest else None,
                newest["band"] if newest else None,
            ),
        }
    return states


@bp.post("/customers/<customer_id>/follow-up")
@login_required
def follow_up(customer_id: str):
    settings = current_settings()
    form = FollowUpForm()
    back = redirect(url_for("dashboard.customer", customer_id=customer_id))
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            return render_template("dashboard/error.html", code=400, csrf=True), 400
        flash(_("That did not work: check the note (at most 2000 characters)."), "error")
        return back
    task = form.task.data if form.task.data in TASKS else DEFAULT_TASK.name
    action = form.action.data
    note = (form.note.data or "").strip() or None
    try:
        with session_scope(settings.database_url) as session:
            profile_cases = [
                f
                for f in customer_follow_ups(session, customer_id)
                if f["task"] == task and f["status"] != "resolved"
            ]
            if action == "take":
                service.take_follow_up(
                    session,
                    customer_id,
                    task,
                    current_user.email,
                    note,
                    due_working_days=settings.follow_up_due_working_days,
                )
                flash(_("You have taken this case."), "success")
            elif not profile_cases:
                flash(_("Take the case first."), "error")
            else:
                status = None if action == "note" else action
                if status is None and not note:
                    flash(_("Write a note first."), "error")
                    return back
                service.update_follow_up(
                    session,
                    profile_cases[0]["id"],
                    author=current_user.email,
                    status=status,
                    note=note,
                )
                messages = {
                    "note": _("Note added."),
                    "contacted": _("Marked as contacted."),
                    "resolved": _("Case resolved."),
                }
                flash(messages.get(action, _("Saved.")), "success")
    except NotFound:
        abort(404)
    except KundresaError as exc:
        flash(str(exc), "error")
    return back
