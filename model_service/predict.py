"""Online predictions: ``POST /v1/predict/brand-switch`` and ``/v1/predict/cart-abandonment``.

A request reads the task's served model ONCE and uses that one object to the end, so the
answer comes from a single version even if the poller swaps models meanwhile. Features come
from the shared builder (ids) or are sent as validated records; both go through
``scoring.score_rows``, the same code as batch scoring. Rows travel as numpy columns and one
context dict per row (id, customer_id, cart_id, stage): for a one-record request, building and
slicing DataFrames used to cost more than the prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from flask import current_app, request
from flask_smorest import abort
from marshmallow import Schema
from sqlalchemy import select
from sqlalchemy.orm import Session

from model_service.batching import PredictionBatcher
from model_service.champions import ChampionRegistry, ServedModel
from model_service.columns import Columns, as_columns
from model_service.schemas import (
    BrandSwitchRequestSchema,
    CartAbandonmentRequestSchema,
    PredictResponseSchema,
)
from model_service.scoring import score_rows, task_features
from model_service.served_metrics import register as report_served_versions
from model_service.served_scale import served_scale
from shared import reasons as reason_texts
from shared.auth import auth
from shared.db.tables import Customer, Identity, JourneyEvent
from shared.errors import NotFound
from shared.i18n import best_locale
from shared.journey_loader import load_journey_frames
from shared.observability import count_predictions
from shared.risk_scale import probability_text
from shared.tasks import BRAND_SWITCH, CART_ABANDONMENT, Task
from shared.web import StrictBlueprint, current_settings, db_session, refuses

blp = StrictBlueprint(
    "predict",
    __name__,
    url_prefix="/v1/predict",
    description="Online risk predictions with reasons, from the champion models.",
)
blp.record_once(report_served_versions)  # /metrics: kundresa_served_model_version per task
CONTEXT = ("id", "customer_id", "visitor_id", "cart_id", "stage")
EXTENSION = "kundresa_models"
# One per process: concurrent requests share model calls (see batching.py).
BATCHER = PredictionBatcher()


def registry() -> ChampionRegistry:
    return current_app.extensions[EXTENSION]


def served_or_503(task: Task) -> ServedModel:
    served = registry().get(task.name)
    if served is None:
        state = registry().status()[task.name]
        detail = (state.get("refused") or {}).get("reason") or (state.get("error") or {}).get(
            "message"
        )
        abort(
            503,
            message=f"No {state['model_name']}@{state['alias']} model is loaded"
            + (f": {detail}" if detail else "; train and promote one."),
        )
    return served


# How each task's rows are built from the ids of a request (records are read alike).
RowsFromIds = Callable[[Session, dict[str, Any]], tuple[Columns, list[dict[str, Any]]]]


def _predict_route(
    task: Task, request_schema: type[Schema], from_ids: RowsFromIds, question: str
) -> None:
    """``POST /v1/predict/<task>``: score the records sent, or the task's rows built from ids."""

    def predict(body: dict[str, Any]) -> dict[str, Any]:
        served = served_or_503(task)
        if body.get("records") is not None:
            features, context = _from_records(body["records"], task.features, task.categorical)
        else:
            features, context = from_ids(db_session(), body)
        return _answer(served, features, context)

    predict.__doc__ = question  # the operation's summary in the OpenAPI document
    view = auth("support")(predict)
    view = blp.alt_response(503, description="No champion model is loaded for this task.")(view)
    view = refuses(NotFound, "Unknown ids, named in errors.")(view)
    view = blp.response(200, PredictResponseSchema)(view)
    view = blp.arguments(request_schema())(view)
    path = "/" + task.name.replace("_", "-")
    blp.route(path, methods=["POST"], endpoint=f"predict_{task.name}")(view)


def _brand_switch_rows(
    session: Session, body: dict[str, Any]
) -> tuple[Columns, list[dict[str, Any]]]:
    return _customers_from_database(session, body["customer_ids"], body["as_of"])


def _cart_abandonment_rows(
    session: Session, body: dict[str, Any]
) -> tuple[Columns, list[dict[str, Any]]]:
    # The request schema lets exactly one source through.
    sources = ("cart_ids", "visitor_ids", "customer_ids")
    source = next(name for name in sources if body.get(name) is not None)
    return _carts_from_database(session, body["as_of"], **{source: body[source]})


def _from_records(
    records: list[dict[str, Any]], columns: Sequence[str], categorical: Sequence[str]
) -> tuple[Columns, list[dict[str, Any]]]:
    features: dict[str, np.ndarray] = {}
    for column in columns:
        values = [record[column] for record in records]
        if column in categorical:
            features[column] = np.array(values, dtype=object)
        else:
            # null means "does not exist" (NaN), exactly as the feature builder leaves it.
            features[column] = np.array(
                [np.nan if value is None else value for value in values], dtype=float
            )
    context = [
        {
            "id": record.get("id"),
            "customer_id": None,
            "visitor_id": None,
            "cart_id": None,
            "stage": record["stage"],
        }
        for record in records
    ]
    return features, context


def _rows(
    features: pd.DataFrame, context: pd.DataFrame, columns: Sequence[str]
) -> tuple[Columns, list[dict[str, Any]]]:
    """The builder's (features, context) frames as columns and one context dict per row."""
    return as_columns(features, columns), context[list(CONTEXT)].to_dict("records")


def _not_found(field: str, wanted: Sequence[str], missing: dict[str, str]) -> None:
    if missing:
        errors = {
            f"{field}.{i}": [missing[value]] for i, value in enumerate(wanted) if value in missing
        }
        raise NotFound(f"{len(missing)} of the {field} cannot be scored.", errors=errors)


def _customers_from_database(
    session: Session, ids: list[str], as_of: datetime | None
) -> tuple[Columns, list[dict[str, Any]]]:
    now = as_of or datetime.now(UTC)
    unique = list(dict.fromkeys(ids))
    known = set(session.scalars(select(Customer.id).where(Customer.id.in_(unique))))
    missing = {i: f"Unknown customer {i!r}." for i in unique if i not in known}
    frames = load_journey_frames(current_settings().database_url, now, customer_ids=unique)
    features, context = task_features(BRAND_SWITCH, frames, now, active_only=False)
    for customer_id in unique:
        if customer_id in known and customer_id not in features.index:
            missing[customer_id] = f"Customer {customer_id!r} has no journey events yet."
    _not_found("customer_ids", ids, missing)
    features, context = features.loc[unique], context.loc[unique]
    context = context.assign(id=context["customer_id"], visitor_id=None)
    return _rows(features, context, BRAND_SWITCH.features)


def _carts_from_database(
    session: Session,
    as_of: datetime | None,
    cart_ids: list[str] | None = None,
    customer_ids: list[str] | None = None,
    visitor_ids: list[str] | None = None,
) -> tuple[Columns, list[dict[str, Any]]]:
    """Open carts by cart, customer or visitor id. A cart belongs to its visitor: its events
    are read by visitor id, so an anonymous visitor's cart is scored before the visitor
    identifies, with the features it will still have afterwards."""
    now = as_of or datetime.now(UTC)
    if cart_ids is not None:
        unique = list(dict.fromkeys(cart_ids))
        cart_visitors = dict(
            session.execute(
                select(JourneyEvent.cart_id, JourneyEvent.visitor_id)
                .where(JourneyEvent.cart_id.in_(unique), JourneyEvent.visitor_id.is_not(None))
                .distinct()
            ).all()
        )
        visitors = sorted(set(cart_visitors.values()))
        customers = _linked_customers(session, visitors, now)
    elif visitor_ids is not None:
        unique = list(dict.fromkeys(visitor_ids))
        visitors = unique
        customers = _linked_customers(session, visitors, now)
        seen = set(
            session.scalars(
                select(JourneyEvent.visitor_id)
                .where(JourneyEvent.visitor_id.in_(unique))
                .distinct()
            )
        )
    else:
        unique = list(dict.fromkeys(customer_ids or []))
        visitors = None
        customers = list(session.scalars(select(Customer.id).where(Customer.id.in_(unique))))
    frames = load_journey_frames(
        current_settings().database_url, now, customer_ids=customers, visitor_ids=visitors
    )
    features, context = task_features(CART_ABANDONMENT, frames, now)
    if cart_ids is not None:
        missing = {
            c: f"Unknown cart {c!r}." if c not in cart_visitors else f"Cart {c!r} is not open."
            for c in unique
            if c not in features.index
        }
        _not_found("cart_ids", cart_ids, missing)
        features, context = features.loc[unique], context.loc[unique]
    elif visitor_ids is not None:
        wanted = context["visitor_id"].isin(set(unique)).to_numpy()
        features, context = features[wanted], context[wanted]
        has_cart = set(context["visitor_id"])
        missing = {
            v: f"Unknown visitor {v!r}." if v not in seen else f"Visitor {v!r} has no open cart."
            for v in unique
            if v not in has_cart
        }
        _not_found("visitor_ids", visitor_ids, missing)
    else:
        has_cart = set(context["customer_id"].dropna())
        known = set(customers)
        missing = {
            c: f"Unknown customer {c!r}." if c not in known else f"Customer {c!r} has no open cart."
            for c in unique
            if c not in has_cart
        }
        _not_found("customer_ids", customer_ids or [], missing)
        wanted = context["customer_id"].isin(known).to_numpy()
        features, context = features[wanted], context[wanted]
    context = context.assign(id=context["cart_id"])
    return _rows(features, context, CART_ABANDONMENT.features)


def _linked_customers(session: Any, visitors: list[str], now: datetime) -> list[str]:
    """The customers these visitors were linked to before ``now`` (their history counts)."""
    if not visitors:
        return []
    linked = select(Identity.customer_id).where(
        Identity.visitor_id.in_(visitors), Identity.linked_at < now
    )
    named = select(JourneyEvent.customer_id).where(
        JourneyEvent.visitor_id.in_(visitors),
        JourneyEvent.customer_id.is_not(None),
        JourneyEvent.occurred_at < now,
    )
    return sorted(set(session.scalars(linked.union(named))))


def _answer(
    served: ServedModel, features: Columns, context: list[dict[str, Any]]
) -> dict[str, Any]:
    # The cut points and percentiles of this version's newest batch, so that a customer gets
    # the band the at-risk list gives the same probability.
    scale = served_scale(current_settings().database_url, served)
    scores = score_rows(served, features, scale.cuts, predict=BATCHER.predictor(served))
    count_predictions(served.task, scores.bands)
    locale = best_locale(request.accept_languages)
    predictions = [
        {
            "id": _text(row["id"]),
            "customer_id": _text(row["customer_id"]),
            "visitor_id": _text(row.get("visitor_id")),
            "cart_id": _text(row["cart_id"]),
            "probability": float(probability),
            "probability_text": probability_text(probability, locale),
            "percentile": percentile,
            "band": band,
            "stage": _text(row["stage"]),
            "reasons": with_texts(reasons, locale),
            "model_name": served.name,
            "model_version": served.version,
        }
        for row, probability, percentile, band, reasons in zip(
            context,
            scores.probabilities,
            scale.percentiles(scores.probabilities),
            scores.bands,
            scores.reasons,
            strict=True,
        )
    ]
    return {
        "task": served.task,
        "model_name": served.name,
        "model_version": served.version,
        "definition": served.definition_text(locale),
        "base_rate": served.base_rate,
        "risk_scale": {**scale.cuts.as_dict(), "scored_as_of": scale.as_of},
        "predictions": predictions,
    }


def with_texts(found: list[dict[str, Any]], locale: str) -> list[dict[str, Any]]:
    """Reasons with their plain-words text and suggested action in ``locale``."""
    return [
        {
            **r,
            **reason_texts.explain(
                r["feature"], r.get("value"), r.get("reference"), locale, r.get("contribution")
            ),
        }
        for r in found or []
    ]


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


_predict_route(
    BRAND_SWITCH,
    BrandSwitchRequestSchema,
    _brand_switch_rows,
    "Will these customers stop buying within the horizon? Probability, band and reasons.",
)
_predict_route(
    CART_ABANDONMENT,
    CartAbandonmentRequestSchema,
    _cart_abandonment_rows,
    "Will these open carts end without a purchase within 24 hours?",
)
