"""Feedback: NPS, CSAT and CES over time per survey and stage, and the latest comments."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required

from model_service.dashboard import bp, charts
from model_service.dashboard.advice import answer_reason_label
from model_service.dashboard.feedback_figures import (
    FeedbackFilter,
    feedback_by_stage,
    feedback_over_time,
    reason_breakdown,
    search_comments,
    survey_keys,
)
from model_service.dashboard.filters import PERIODS
from model_service.dashboard.formatting import code_label, number, percent, when
from shared.db.session import session_scope
from shared.journey import STAGES
from shared.web import current_settings

SEARCH_MAX = 100
# (metric, axis): NPS runs −100..100, CSAT is % satisfied, CES the mean on 1–7.
METRIC_AXES = {
    "nps": charts.Axis(-100, 100, fmt=lambda v: number(v)),
    "csat": charts.Axis(0, 100, fmt=lambda v: percent(v / 100)),
    "ces": charts.Axis(1, 7, fmt=lambda v: number(v, 1), ticks=6),
}


def _metric_chart(metric: str, title: str, series: dict[str, list], grain: str):
    lines = [
        charts.Series(
            code_label(survey, "survey"),
            [(day, scores[metric]) for day, scores in points],
            f"series-{i % 5}",
        )
        for i, (survey, points) in enumerate(sorted(series.items()))
        if any(scores[metric] is not None for _day, scores in points)
    ]
    return charts.line_chart(
        lines,
        title=title,
        axis=METRIC_AXES[metric],
        x_label=lambda d: when(d, "MMM d" if grain == "week" else "MMM yyyy"),
        empty_text=_("No answers in this period"),
    )


@bp.get("/feedback")
@login_required
def feedback():
    database_url = current_settings().database_url
    text = request.args.get("q", "").strip()[:SEARCH_MAX]
    with session_scope(database_url) as session:
        surveys = survey_keys(session)
        survey = request.args.get("survey")
        stage = request.args.get("stage")
        period = request.args.get("period")
        flt = FeedbackFilter(
            survey=survey if survey in surveys else None,
            stage=stage if stage in STAGES else None,
            period=period if period in PERIODS else "365d",
        )
        grain, series = feedback_over_time(session, flt)
        table = feedback_by_stage(session, flt, current_settings().min_answers)
        reasons = reason_breakdown(session, flt)
        comments = search_comments(session, text or None, flt, request.args.get("cursor"))
    charts_by_metric = {
        "nps": _metric_chart("nps", _("NPS over time"), series, grain),
        "csat": _metric_chart("csat", _("CSAT (share satisfied) over time"), series, grain),
        "ces": _metric_chart("ces", _("CES (ease, 1–7) over time"), series, grain),
    }
    base_args = {
        k: v
        for k, v in {
            "survey": flt.survey,
            "stage": flt.stage,
            "period": flt.period,
            "q": text or None,
        }.items()
        if v
    }
    locale = str(get_locale() or "en")
    return render_template(
        "dashboard/feedback.html",
        reasons=reasons,
        reason_label=lambda code: answer_reason_label(code, locale),
        reason_peak=max(reasons.totals.values(), default=1),
        flt=flt,
        surveys=surveys,
        stages=STAGES,
        periods=PERIODS,
        charts=charts_by_metric,
        grain=grain,
        table=table,
        comments=comments,
        text=text,
        more_url=url_for("dashboard.feedback", cursor=comments.next_cursor, **base_args)
        + "#comments"
        if comments.next_cursor
        else None,
    )
