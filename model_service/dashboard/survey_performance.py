"""Survey performance: how many offers were shown, started and answered, per survey, stage and
device, week by week (``survey_funnel``)."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from model_service.dashboard import bp, charts
from model_service.dashboard.formatting import label, number, percent, when
from model_service.dashboard.survey_funnel import DEFAULT_WEEKS, WEEKS, survey_funnel, survey_keys
from shared.db.session import session_scope
from shared.web import current_settings

DEVICE_LABELS = {"desktop": _l("Desktop"), "mobile": _l("Mobile"), "tablet": _l("Tablet")}
RATE_AXIS = charts.Axis(0, 100, fmt=lambda v: percent(v / 100))
COUNT_TICKS = 4


def _rate_chart(funnel) -> object:
    def points(rate):
        return [
            (week, None if getattr(row, rate) is None else 100 * getattr(row, rate))
            for week, row in funnel.by_week
        ]

    return charts.line_chart(
        [
            charts.Series(_("Started"), points("start_rate"), "series-1"),
            charts.Series(_("Answered"), points("answer_rate"), "series-0"),
        ],
        title=_("Share of offers started and answered, per week"),
        axis=RATE_AXIS,
        x_label=lambda d: when(d, "MMM d"),
        empty_text=_("No surveys shown in this period"),
    )


def _shown_chart(funnel) -> object:
    top = max((row.shown for _week, row in funnel.by_week), default=0)
    high = max(COUNT_TICKS, top + (-top % COUNT_TICKS))
    return charts.line_chart(
        [charts.Series(_("Shown"), [(w, row.shown) for w, row in funnel.by_week], "series-2")],
        title=_("Surveys shown per week"),
        axis=charts.Axis(0, high, fmt=lambda v: number(v), ticks=COUNT_TICKS),
        x_label=lambda d: when(d, "MMM d"),
        empty_text=_("No surveys shown in this period"),
    )


@bp.get("/survey-performance")
@login_required
def survey_performance():
    weeks = request.args.get("weeks", type=int)
    weeks = weeks if weeks in WEEKS else DEFAULT_WEEKS
    with session_scope(current_settings().database_url) as session:
        surveys = survey_keys(session)
        survey = request.args.get("survey")
        survey = survey if survey in surveys else None
        funnel = survey_funnel(session, survey, weeks)
    return render_template(
        "dashboard/survey_performance.html",
        funnel=funnel,
        surveys=surveys,
        survey=survey,
        weeks=weeks,
        week_choices=WEEKS,
        rate_chart=_rate_chart(funnel),
        shown_chart=_shown_chart(funnel),
        device_label=lambda key: label(DEVICE_LABELS, key),
    )
