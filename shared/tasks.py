"""The two prediction tasks, what a score of each means, and what trainer and server agree on.

A model is registered under ``model_name`` and served from ``models:/<model_name>@champion``.
Its MLmodel ``metadata`` carries what must travel with it: the task definition (label,
horizon, population, snapshot rule), the feature columns in order, the risk-band scale, the
base rate, and a reference row for per-prediction reasons.

A :class:`TaskDefinition` is part of the model: two versions whose definitions differ answer
different questions ("no purchase within 30 days" is not "within 90"), so their metrics are
not comparable and promotion refuses to swap one for the other without ``--force``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from shared import cart_features, customer_features
from shared.i18n import N_plural, ngettext
from shared.journey_frames import JourneyFrames

CHAMPION_ALIAS = "champion"
# Where a training run stores its held-out rows with their labels and scores (MLflow artifact).
EVALUATION_ARTIFACT = "evaluation/rows.parquet"


@dataclass(frozen=True)
class Task:
    """Everything serving and training agree on about one prediction task.

    Code asks the task (its columns, its builder, its definition, its model name) rather than
    comparing its name. What only training needs (how its training rows are drawn, which
    pipeline fits them) is keyed by the task in ``training``, which may import this module but
    not the other way round.
    """

    name: str
    model_name: str
    entity: str  # what one row is about: "customer" or "cart"
    description: str
    title: str  # how people name it (the dashboard translates this English text)
    features: tuple[str, ...]  # the builder's columns, in the order a model takes them
    categorical: tuple[str, ...]
    # (frames, cutoff) -> feature rows of every entity of this task known at the cutoff (pure).
    build_features: Callable[[JourneyFrames, datetime], pd.DataFrame]
    # feature rows -> who each row is (customer, visitor, cart) and what it is worth, indexed
    # alike: what a risk score is stored and shown with.
    context: Callable[[pd.DataFrame], pd.DataFrame]
    # feature rows -> the rows of the task's population (who a score is asked of)
    population: Callable[[pd.DataFrame], pd.DataFrame]
    default_horizon_days: int
    horizon_configurable: bool  # True when a deployment may ask another horizon of the task
    alias: str = CHAMPION_ALIAS
    evaluation_artifact: str = EVALUATION_ARTIFACT

    def definition(self, horizon_days: int | None = None) -> TaskDefinition:
        """The definition ``kundresa train`` uses (``horizon_days`` only where configurable)."""
        if self.horizon_configurable:
            return _DEFINITIONS[self.name](horizon_days or self.default_horizon_days)
        return _DEFINITIONS[self.name]()

    def horizon_days(self, requested: int | None = None) -> int:
        """The horizon this task is asked at: ``requested`` where configurable, else its own."""
        if self.horizon_configurable and requested:
            return int(requested)
        return self.default_horizon_days


# Keys of the MLmodel metadata written by training and read by the model service.
META_TASK = "kundresa_task"
META_DEFINITION = "task_definition"  # TaskDefinition.as_dict()
META_BASE_RATE = "base_rate"  # share of positives on the test rows
META_FEATURES = "feature_columns"
META_RISK_BANDS = "risk_bands"  # {"default": {"medium": p, "high": p}}: one scale per task
META_REFERENCE = "reference_row"  # {feature: typical value} for per-prediction reasons
BANDS: tuple[str, ...] = ("low", "medium", "high")
# Model-version tag holding the definition as JSON, so promotion can compare definitions
# without downloading either model.
DEFINITION_TAG = "task_definition"


@dataclass(frozen=True)
class TaskDefinition:
    """What one score means: who is scored (population), at which moments (snapshot), and the
    event whose absence within ``horizon_hours`` is the positive label.

    ``revision`` is raised whenever the code's rule for any of these changes, so a model
    trained under an older rule is not silently compared with one under the new rule.
    """

    task: str
    label: str
    horizon_hours: int
    population: str
    snapshot: str
    revision: int = 1

    @property
    def horizon_days(self) -> float:
        return self.horizon_hours / 24

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskDefinition:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        fields["horizon_hours"] = int(fields["horizon_hours"])
        fields["revision"] = int(fields.get("revision", 1))
        return cls(**fields)

    def summary(self, locale: str = "en") -> str:
        """The label in words a support agent reads, e.g. "no purchase within 90 days"."""
        in_days, in_hours = _SUMMARIES[self.label]
        hours = self.horizon_hours
        if hours % 24 == 0 and hours > 24:
            return ngettext(in_days, hours // 24, locale)
        return ngettext(in_hours, hours, locale)


def brand_switch_definition(horizon_days: int = 90) -> TaskDefinition:
    """Brand switch: a customer who has bought before makes no purchase within the horizon."""
    return TaskDefinition(
        task="brand_switch",
        label="no_purchase",
        horizon_hours=int(horizon_days) * 24,
        population="customers with at least one purchase before the cutoff",
        snapshot="every customer at midnight UTC cutoffs",
        revision=2,
    )


def cart_abandonment_definition() -> TaskDefinition:
    """Cart abandonment: an open cart, at a moment a shop can still act, is not bought within
    24 hours."""
    return TaskDefinition(
        task="cart_abandonment",
        label="cart_not_bought",
        horizon_hours=24,
        population="open carts of identified customers and anonymous visitors",
        snapshot="decision moments: a cart change, 5, 15 and 60 minutes of quiet, exit intent",
        revision=2,
    )


_DEFINITIONS: dict[str, Callable[..., TaskDefinition]] = {
    "brand_switch": brand_switch_definition,
    "cart_abandonment": cart_abandonment_definition,
}

BRAND_SWITCH = Task(
    name="brand_switch",
    model_name="kundresa-brand-switch",
    entity="customer",
    description="A customer who has bought before makes no purchase within the horizon.",
    title="Brand switch",
    features=tuple(customer_features.CUSTOMER_FEATURES),
    categorical=tuple(customer_features.CUSTOMER_CATEGORICAL),
    build_features=customer_features.build_customer_features,
    context=customer_features.customer_task_context,
    population=customer_features.customers_who_bought,
    default_horizon_days=90,
    horizon_configurable=True,
)
CART_ABANDONMENT = Task(
    name="cart_abandonment",
    model_name="kundresa-cart-abandonment",
    entity="cart",
    description="An open cart is not turned into a purchase within 24 hours.",
    title="Cart abandonment",
    features=tuple(cart_features.CART_FEATURES),
    categorical=tuple(cart_features.CART_CATEGORICAL),
    build_features=cart_features.build_cart_features,
    context=cart_features.cart_task_context,
    population=cart_features.every_row,
    default_horizon_days=1,
    horizon_configurable=False,
)
TASKS: dict[str, Task] = {task.name: task for task in (BRAND_SWITCH, CART_ABANDONMENT)}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)
# The task a page or endpoint shows when none is asked for.
DEFAULT_TASK = BRAND_SWITCH


def default_definition(task: str | Task, horizon_days: int | None = None) -> TaskDefinition:
    """The definition ``kundresa train`` uses for ``task`` (where configurable: ``horizon_days``)."""
    return task_by_name(task).definition(horizon_days)


# Per label: the summary when the horizon is whole days, and when it is counted in hours.
_SUMMARIES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "no_purchase": (
        N_plural("no purchase within %(num)s day", "no purchase within %(num)s days"),
        N_plural("no purchase within %(num)s hour", "no purchase within %(num)s hours"),
    ),
    "cart_not_bought": (
        N_plural("cart not bought within %(num)s day", "cart not bought within %(num)s days"),
        N_plural("cart not bought within %(num)s hour", "cart not bought within %(num)s hours"),
    ),
}


def task_by_name(name: str | Task) -> Task:
    """The task for ``brand_switch``/``brand-switch`` style names; KeyError when unknown."""
    if isinstance(name, Task):
        return name
    return TASKS[name.replace("-", "_")]
