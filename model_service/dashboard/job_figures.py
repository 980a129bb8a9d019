"""What the worker did, for the Models page and the drift banner: recent job runs per job, and
each task's latest drift check (recorded by ``kundresa worker`` in ``job_runs``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from model_service.dashboard import bp
from model_service.dashboard.score_figures import SUMMARY_CACHE
from shared.db.session import session_scope
from shared.db.tables import JobRun
from shared.web import current_settings

RUNS_PER_JOB = 5
DRIFT_JOB = "drift"
# Newest drift runs looked at to find each task's latest: a few nights of both tasks.
DRIFT_RUNS_SCANNED = 20
SUMMARY_CHARS = 160
LIST_ITEMS = 3  # a longer list in a summary is shown as its length
# The chart shows the worst columns; a task has dozens of inputs.
CHART_COLUMNS = 15
BANNER_ROLES = frozenset({"admin", "support"})


@dataclass(frozen=True)
class RunRow:
    job: str
    started_at: datetime
    result: str
    seconds: float | None
    summary: str
    error: str | None


def recent_runs(session: Session, per_job: int = RUNS_PER_JOB) -> list[RunRow]:
    """The newest ``per_job`` runs of every job, newest first within each job, jobs by name;
    a 10-second job cannot push the nightly ones off the page."""
    jobs = session.scalars(select(JobRun.job).distinct().order_by(JobRun.job)).all()
    rows: list[RunRow] = []
    for job in jobs:
        for run in session.scalars(
            select(JobRun)
            .where(JobRun.job == job)
            .order_by(JobRun.started_at.desc(), JobRun.id.desc())
            .limit(per_job)
        ):
            seconds = None
            if run.finished_at is not None:
                seconds = max((run.finished_at - run.started_at).total_seconds(), 0.0)
            rows.append(
                RunRow(
                    run.job,
                    run.started_at,
                    run.result,
                    seconds,
                    summary_text(run.summary),
                    run.error,
                )
            )
    return rows


def summary_text(summary: Any) -> str:
    """A run's summary on one short line: ``key value`` pairs, nested ones in brackets."""
    if not summary:
        return ""
    if not isinstance(summary, dict):
        return json.dumps(summary)[:SUMMARY_CHARS]

    def part(key: str, value: Any) -> str:
        if isinstance(value, dict):
            inner = ", ".join(
                f"{k} {v}" for k, v in value.items() if not isinstance(v, dict | list)
            )
            return f"{key} ({inner})"
        if isinstance(value, list):
            if len(value) > LIST_ITEMS:
                return f"{key}: {len(value)}"
            return f"{key}: {', '.join(map(str, value)) or '—'}"
        return f"{key} {value}"

    keep = {k: v for k, v in summary.items() if k not in {"psi", "mlflow_run_id"}}
    text = "; ".join(part(str(k), v) for k, v in keep.items())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def latest_drift(session: Session) -> dict[str, dict[str, Any]]:
    """Per task: the summary of its newest successful drift check, with when it ran."""
    found: dict[str, dict[str, Any]] = {}
    for run in session.scalars(
        select(JobRun)
        .where(JobRun.job == DRIFT_JOB, JobRun.result == "ok")
        .order_by(JobRun.started_at.desc(), JobRun.id.desc())
        .limit(DRIFT_RUNS_SCANNED)
    ):
        summary = run.summary or {}
        task = summary.get("task")
        if task and task not in found and isinstance(summary.get("psi"), dict):
            found[task] = {**summary, "checked_at": run.started_at}
    return found


def drifted_tasks(database_url: str) -> list[str]:
    """Tasks whose latest drift check passed its threshold (cached like the page figures)."""

    def compute() -> list[str]:
        with session_scope(database_url) as session:
            latest = latest_drift(session)
        return sorted(task for task, summary in latest.items() if summary.get("drifted"))

    return SUMMARY_CACHE.get((database_url, "drifted-tasks"), compute)


def psi_chart(
    psi: dict[str, float], threshold: float, *, title: str, threshold_label: str
) -> Markup:
    """A horizontal bar per column (the ``CHART_COLUMNS`` worst, worst first), red past the
    dashed threshold line."""
    items = sorted(psi.items(), key=lambda item: -item[1])[:CHART_COLUMNS]
    row_h, label_w, width, right = 18, 190, 460, 46
    top = 8
    height = top + row_h * len(items) + 26
    peak = max([threshold * 1.5, *psi.values()]) or 1.0
    plot_w = width - label_w - right

    def x_of(value: float) -> float:
        return label_w + plot_w * min(value, peak) / peak

    parts: list[str] = []
    for i, (column, value) in enumerate(items):
        y = top + i * row_h
        level = "high" if value > threshold else "low"
        parts.append(
            f'<text class="tick" x="{label_w - 6}" y="{y + 12}" text-anchor="end">'
            f"{escape(column)}</text>"
            f'<rect class="bar band-{level}" x="{label_w}" y="{y + 3}" '
            f'width="{x_of(value) - label_w:.1f}" height="{row_h - 6}">'
            f"<title>{escape(column)}: {value:.3f}</title></rect>"
            f'<text class="value" x="{x_of(value) + 4:.1f}" y="{y + 12}">{value:.2f}</text>'
        )
    bottom = top + row_h * len(items)
    x = x_of(threshold)
    parts.append(
        f'<line class="cut band-high" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}">'
        f"<title>{escape(threshold_label)}</title></line>"
        f'<text class="tick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">'
        f"{escape(threshold_label)}</text>"
    )
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )


@bp.context_processor
def _drift_banner() -> dict:
    """The layout's drift banner: for admins and support, the tasks whose inputs moved."""

    def tasks() -> list[str]:
        if getattr(current_user, "role", None) not in BANNER_ROLES:
            return []
        try:
            return drifted_tasks(current_settings().database_url)
        except Exception:  # a banner must never break a page
            return []

    return {"drift_banner_tasks": tasks}
