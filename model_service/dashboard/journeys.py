"""The journey map and the critical journeys: which part of the journey to fix first."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required

from model_service import service
from model_service.critical_journeys import NO_VALUE, TASKS_WITH_REASONS
from model_service.dashboard import bp, charts
from model_service.dashboard.advice import answer_reason_label
from model_service.dashboard.attribution_page import start_channel_split
from model_service.dashboard.filters import PERIODS, cached_choices
from model_service.dashboard.formatting import STAGE_LABELS, label, number, percent
from model_service.dashboard.journey_map import (
    JourneyFilter,
    StageFigures,
    criticality_level,
    journey_map_figures,
    stage_criticality,
)
from model_service.dashboard.score_figures import latest_as_of
from shared.cache import TimedCache
from shared.db.session import session_scope
from shared.journey import STAGES
from shared.metrics import Score
from shared.tasks import CART_ABANDONMENT, DEFAULT_TASK, TASKS
from shared.web import current_settings


def _choice(name: str, allowed: list[str] | tuple[str, ...]) -> str | None:
    """A query argument only when it is one of the allowed values (anything else: no filter)."""
    value = request.args.get(name, "").strip()
    return value if value in allowed else None


def _with_few(text: str, score: Score | None) -> str:
    """A score as the picture shows it: marked when it rests on few answers."""
    if score is not None and score.value is not None and score.few:
        return _("%(value)s (few answers)", value=text)
    return text


def stage_link(fig: StageFigures, flt: JourneyFilter) -> str | None:
    """The list of the scored customers at a stage, the map's filters carried: the at-risk
    list when customers are scored for switching there, else the open carts; None when no
    known customer is scored at the stage (the map also counts anonymous visitors)."""
    if fig.switch_scored:
        endpoint = "dashboard.at_risk"
    elif fig.carts_scored:
        endpoint = "dashboard.open_carts"
    else:
        return None
    link = {"stage": fig.stage}
    if flt.segment:
        link["segment"] = flt.segment
    if flt.product_category:
        link["category"] = flt.product_category
    return url_for(endpoint, **link)


def _stage_cell(fig: StageFigures, flt: JourneyFilter) -> charts.StageCell:
    risks = [r for r in (fig.switch_risk, fig.cart_risk) if r is not None]
    risk = max(risks) if risks else None
    level = criticality_level(stage_criticality(fig.drop_off, risk, fig.csat))
    # Past loyalty the journey does not end: those who do not go on stay loyal customers
    # who have not (yet) recommended us. That is no drop-off.
    onward = _("Not yet advocates") if fig.stage == "loyalty" else _("Drop-off")
    csat = percent(fig.csat / 100) if fig.csat is not None else "—"
    rows = [
        (_("Now here"), number(fig.here)),
        (onward, percent(fig.drop_off) if fig.drop_off is not None else "—"),
        (_("Satisfied (CSAT)"), _with_few(csat, fig.csat_score)),
        (_("Ease (CES 1–7)"), _with_few(number(fig.ces, 1), fig.ces_score)),
        (_("NPS"), _with_few(number(fig.nps), fig.nps_score)),
        (_("Switch risk"), percent(fig.switch_risk)),
        (_("Cart risk"), percent(fig.cart_risk)),
    ]
    return charts.StageCell(
        key=fig.stage,
        label=label(STAGE_LABELS, fig.stage),
        headline=_("%(count)s reached", count=number(fig.reached)),
        rows=rows,
        level=level,
        conversion=percent(fig.conversion) if fig.conversion is not None else None,
        href=stage_link(fig, flt),
    )


# A picture of the whole journey a minute old is as good as a fresh one (see shared.cache).
MAP_CACHE = TimedCache(seconds=60)


@bp.get("/journey-map")
@login_required
def journey_map():
    database_url = current_settings().database_url
    with session_scope(database_url) as session:
        segments, categories = cached_choices(database_url, session)
        flt = JourneyFilter(
            segment=_choice("segment", segments),
            product_category=_choice("category", categories),
            period=_choice("period", tuple(PERIODS)) or "90d",
        )
        minimum = current_settings().min_answers
        split_rows = start_channel_split(flt)
        figures = MAP_CACHE.get(
            (database_url, flt, minimum), lambda: journey_map_figures(session, flt, minimum)
        )
    cells = [_stage_cell(fig, flt) for fig in figures.stages]
    picture = charts.journey_map(
        cells,
        title=_("The customer journey, stage by stage"),
        loop_label=_(
            "Next purchase: %(num)s customers bought again", num=number(figures.repeat_buyers)
        ),
    )
    worst = [
        (fig, cell) for fig, cell in zip(figures.stages, cells, strict=True) if cell.level == "high"
    ]
    locale = str(get_locale() or "en")
    return render_template(
        "dashboard/journey_map.html",
        reason_label=lambda code: answer_reason_label(code, locale),
        picture=picture,
        figures=figures,
        cells=cells,
        worst=worst,
        flt=flt,
        segments=segments,
        categories=categories,
        periods=PERIODS,
        split_rows=split_rows,
    )


def list_link(task: str, cell: dict, segments: list[str], categories: list[str]) -> str | None:
    """The at-risk or open-carts list of the customers a critical journey counts (its stage,
    segment and category carried as filters); None when it counts no known customer (only
    anonymous carts), since that list would be empty."""
    if not cell["customers"]:
        return None
    args = {"stage": cell["stage"]} if cell["stage"] in STAGES else {}
    if cell["segment"] != NO_VALUE and cell["segment"] in segments:
        args["segment"] = cell["segment"]
    if cell["product_category"] != NO_VALUE and cell["product_category"] in categories:
        args["category"] = cell["product_category"]
    endpoint = "dashboard.open_carts" if task == CART_ABANDONMENT.name else "dashboard.at_risk"
    return url_for(endpoint, **args)


CRITICAL_PERIODS = ("30d", "90d")
CRITICAL_LIMIT = 25
# The ranking is as of the latest scoring, so it changes when scores do; a minute old is as
# good as fresh, and the first view ranks every score (about a second at 100,000 customers).
CRITICAL_CACHE = TimedCache(seconds=60)


@bp.get("/critical-journeys")
@login_required
def critical_journeys():
    settings = current_settings()
    task = request.args.get("task") if request.args.get("task") in TASKS else DEFAULT_TASK.name
    period = request.args.get("period") if request.args.get("period") in CRITICAL_PERIODS else "30d"
    stage = request.args.get("stage") if request.args.get("stage") in STAGES else None
    # A stage filter looks further down the ranking so that it still fills a page.
    limit = CRITICAL_LIMIT * (len(STAGES) if stage else 1)
    with session_scope(settings.database_url) as session:
        # As of the latest scoring, so the figures and the scores describe the same moment.
        # Only its time: counting the scoring's rows (last_scored) would cost every request
        # about 60 ms at 100,000 customers.
        end = latest_as_of(session, task)
        key = (
            settings.database_url,
            task,
            period,
            end,
            limit,
            settings.critical_flag_threshold,
            settings.min_answers,
        )
        ranked = CRITICAL_CACHE.get(
            key,
            lambda: service.critical_journeys(
                session,
                task,
                period=period,
                end=end,
                limit=limit,
                flag_threshold=settings.critical_flag_threshold,
                min_answers=settings.min_answers,
            ),
        )
        segments, categories = cached_choices(settings.database_url, session)
    scored = bool(ranked)
    if stage:
        ranked = [cell for cell in ranked if cell["stage"] == stage][:CRITICAL_LIMIT]
    locale = str(get_locale() or "en")
    # New dicts: the cached ones are shared by every request.
    cells = [
        {
            **cell,
            "reason_labels": [
                (answer_reason_label(r["reason"], locale), r["count"]) for r in cell["top_reasons"]
            ],
            "href": list_link(task, cell, segments, categories),
        }
        for cell in ranked
    ]
    peak = max((cell["revenue_at_risk"] for cell in cells), default=0.0) or 1.0
    return render_template(
        "dashboard/critical_journeys.html",
        cells=cells,
        task=task,
        period=period,
        stage=stage,
        stages=STAGES,
        periods=CRITICAL_PERIODS,
        tasks=tuple(TASKS),
        peak=peak,
        meter=charts.probability_meter,
        as_of=end,
        # Scored, but no journey at the chosen stage: say so, not "nobody is scored yet".
        scored=scored,
        first_period=any(cell["first_period"] for cell in cells),
        reasons_shown=task in TASKS_WITH_REASONS,
        # Every cell is "flagged" with the default threshold of 0: a flag then says nothing.
        show_flags=settings.critical_flag_threshold > 0,
    )
