"""The two prediction tasks and what trainer and server agree on about their models.

A model is registered under ``model_name`` and served from ``models:/<model_name>@champion``.
Its MLmodel ``metadata`` carries what must travel with it: the feature columns in order, the
risk-band thresholds per journey stage, and a reference row for per-prediction reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAMPION_ALIAS = "champion"


@dataclass(frozen=True)
class Task:
    name: str
    model_name: str
    entity: str  # what one row is about: a customer or a cart
    description: str


TASKS: dict[str, Task] = {
    "brand_switch": Task(
        name="brand_switch",
        model_name="kundresa-brand-switch",
        entity="customer",
        description="A customer who has bought before makes no purchase within the horizon.",
    ),
    "cart_abandonment": Task(
        name="cart_abandonment",
        model_name="kundresa-cart-abandonment",
        entity="cart",
        description="An open cart is not turned into a purchase within 24 hours.",
    ),
}

# Keys of the MLmodel metadata written by training and read by the model service.
META_TASK = "kundresa_task"
META_FEATURES = "feature_columns"
META_RISK_BANDS = "risk_bands"  # {"default": {"medium": p, "high": p}, "<stage>": {...}}
META_REFERENCE = "reference_row"  # {feature: typical value} for per-prediction reasons
BANDS: tuple[str, ...] = ("low", "medium", "high")


def task_by_name(name: str) -> Task:
    """The task for ``brand_switch``/``brand-switch`` style names; KeyError when unknown."""
    return TASKS[name.replace("-", "_")]
