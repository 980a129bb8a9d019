"""Scoring: features → probability, risk band and reasons, online and in batch.

Online predictions and batch scoring share ``explain_scored`` (bands on one scale, reasons),
so the API and the risk-score history can never disagree. Batch scoring is ONE vectorised
pass: the journey frames are read once (streamed), the shared feature builder makes every row
in one go, every row is predicted, the run's risk scale is cut on all its probabilities
(``shared.risk_scale``), and then chunks of rows are banded, explained and appended to
``risk_scores`` (and a CSV) with a progress bar. A new score never overwrites an old one.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert
from tqdm import tqdm

from model_service.champions import ServedModel, load_champion
from model_service.columns import Columns, as_columns, take
from model_service.explain import Predict, top_reasons
from model_service.risk_events import announce_new_high_risk
from shared.db.session import session_scope
from shared.db.tables import RiskScore
from shared.journey_frames import JourneyFrames, as_utc
from shared.journey_loader import load_journey_frames
from shared.risk_scale import CutPoints, bands_for, cut_points
from shared.settings import Settings
from shared.tasks import Task, task_by_name

log = logging.getLogger(__name__)

CHUNK_ROWS = 10_000
# Reasons cost one prediction per feature; in batch they are worked out for the customers a
# support agent may act on. Online predictions always carry them.
EXPLAINED_BANDS: frozenset[str] = frozenset({"medium", "high"})
CONTEXT_COLUMNS = [
    "customer_id",
    "visitor_id",
    "cart_id",
    "stage",
    "segment",
    "product_category",
    "value",
]
CSV_COLUMNS = [
    "task",
    *CONTEXT_COLUMNS,
    "probability",
    "band",
    "reasons",
    "model_name",
    "model_version",
    "as_of",
]


@dataclass(frozen=True)
class Scored:
    """Rows scored by one model version: context, probability, band and reasons per row."""

    rows: pd.DataFrame
    model_name: str
    model_version: str


def task_features(
    task: str | Task, frames: JourneyFrames, cutoff: datetime, active_only: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(feature rows, context rows) of ``task`` at ``cutoff``, both indexed alike.

    ``active_only`` keeps the task's population (brand switch: customers who have bought
    before); cart abandonment scores every cart open at the cutoff, anonymous visitors' carts
    too (their customer_id is None; the visitor_id names them).
    """
    task = task_by_name(task)
    features = task.build_features(frames, cutoff)
    if active_only:
        features = task.population(features)
    return features, task.context(features)


@dataclass(frozen=True)
class Scores:
    """Per row, in the rows' order: probability, risk band and reasons."""

    probabilities: np.ndarray
    bands: list[str]
    reasons: list[list[dict[str, Any]]]


def score_rows(
    served: ServedModel,
    features: Columns,
    scale: CutPoints | None = None,
    explained_bands: frozenset[str] | None = None,
    predict: Predict | None = None,
) -> Scores:
    """probability, band on ``scale`` (default: the model's own) and reasons for every
    feature row (reasons only for rows whose band is in ``explained_bands``; all rows when
    None). ``predict`` replaces the model's own ``predict_proba`` (online requests share
    batched calls)."""
    scale = scale or served.scale
    if explained_bands is None:
        probabilities, reasons = top_reasons(served, features, predict=predict)
        return Scores(probabilities, bands_for(probabilities, scale), reasons)
    probabilities = (predict or served.predict_proba)(features)
    return explain_scored(served, features, probabilities, scale, explained_bands)


def explain_scored(
    served: ServedModel,
    features: Columns,
    probabilities: np.ndarray,
    scale: CutPoints,
    explained_bands: frozenset[str],
) -> Scores:
    """Bands on ``scale`` for rows already predicted, with reasons for the rows whose band is
    in ``explained_bands``."""
    bands = bands_for(probabilities, scale)
    reasons: list[list[dict[str, Any]]] = [[] for _ in range(len(bands))]
    explain = np.isin(bands, list(explained_bands))
    if explain.any():
        _, picked = top_reasons(served, take(features, explain), base=probabilities[explain])
        for position, found in zip(np.flatnonzero(explain), picked, strict=True):
            reasons[position] = found
    return Scores(probabilities, bands, reasons)


def parse_as_of(value: str | datetime | None) -> datetime:
    """A date (midnight UTC, so the whole day before counts) or time; now when None."""
    if value is None:
        return datetime.now(UTC)
    return as_utc(pd.Timestamp(value)).to_pydatetime()


def score_all(
    settings: Settings,
    task: str,
    *,
    as_of: str | datetime | None = None,
    output: Path | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = True,
    served: ServedModel | None = None,
) -> int:
    """Score every active customer (or open cart) of ``task`` as of ``as_of`` with the
    champion, append the scores to the history and optionally to a CSV; returns the count."""
    cutoff = parse_as_of(as_of)
    served = served or load_champion(settings, task)
    frames = load_journey_frames(settings.database_url, cutoff)
    features, context = task_features(task, frames, cutoff)
    del frames  # the features are all we need from here on
    scored_at = datetime.now(UTC)
    # The bands of a run are cut on the probabilities of the whole run, so every probability
    # is predicted before the first band is given; reasons follow per chunk.
    probabilities = np.concatenate(
        [
            served.predict_proba(features.iloc[start : start + chunk_rows])
            for start in range(0, len(features), chunk_rows)
        ]
        or [np.empty(0)]
    )
    scale = cut_points(probabilities) or served.scale
    writer = _CsvWriter(output) if output else None
    bar = tqdm(total=len(features), desc=f"scoring {task}", unit="row", disable=not progress)
    try:
        for start in range(0, len(features), chunk_rows):
            rows = features.iloc[start : start + chunk_rows]
            ctx = context.iloc[start : start + chunk_rows]
            scores = explain_scored(
                served,
                as_columns(rows, served.feature_columns),
                probabilities[start : start + chunk_rows],
                scale,
                EXPLAINED_BANDS,
            )
            records = _records(task, served, ctx, scores, cutoff, scored_at)
            with session_scope(settings.database_url) as session:
                announce_new_high_risk(session, task, records)  # webhooks, before the insert
                session.execute(insert(RiskScore), records)
            if writer:
                writer.write(records)
            bar.update(len(rows))
    finally:
        bar.close()
        if writer:
            writer.close()
    log.info(
        "scored",
        extra={
            "task": task,
            "rows": len(features),
            "model_version": served.version,
            "as_of": cutoff.isoformat(),
            "risk_scale": scale.as_dict(),
        },
    )
    return len(features)


def _records(
    task: str,
    served: ServedModel,
    context: pd.DataFrame,
    scores: Scores,
    as_of: datetime,
    scored_at: datetime,
) -> list[dict[str, Any]]:
    frame = context.reindex(columns=CONTEXT_COLUMNS).assign(
        probability=scores.probabilities,
        band=scores.bands,
        reasons=pd.Series(scores.reasons, index=context.index, dtype=object),
    )
    return score_records(task, served.name, served.version, frame, as_of, scored_at)


def score_records(
    task: str,
    model_name: str,
    model_version: str,
    frame: pd.DataFrame,
    as_of: datetime,
    scored_at: datetime,
) -> list[dict[str, Any]]:
    """``risk_scores`` rows from a frame of ``CONTEXT_COLUMNS``, probability, band and reasons
    (the in-process and the Spark engine store scores through this one function)."""
    # Brand-switch rows have no visitor: the column is added empty.
    frame = frame.reindex(columns=[*CONTEXT_COLUMNS, "probability", "band", "reasons"])
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame = frame.astype(object).where(frame.notna(), None)
    records = frame.to_dict("records")
    for record in records:
        record.update(
            task=task,
            model_name=model_name,
            model_version=model_version,
            as_of=as_of,
            scored_at=scored_at,
        )
    return records


class _CsvWriter:
    def __init__(self, path: Path) -> None:
        self.file = path.open("w", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.file, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        self.writer.writeheader()

    def write(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.writer.writerow(
                {
                    **record,
                    "reasons": json.dumps(record["reasons"] or []),
                    "as_of": record["as_of"].isoformat(),
                }
            )

    def close(self) -> None:
        self.file.close()
