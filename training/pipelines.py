"""scikit-learn Pipelines: preprocessing travels with the model, so what is trained is served.

Categorical features are one-hot encoded for both models (not HistGradientBoosting's native
categorical splits): shap's TreeExplainer is exact on one-hot features and wrong on native
categorical splits (a known shap limitation), and the model service may explain with it.
Probabilities are calibrated with a sigmoid fitted on out-of-fold predictions
(``CalibratedClassifierCV(ensemble=False)``), so a single fitted pipeline is served.
"""

from __future__ import annotations

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from shared.tasks import BRAND_SWITCH, CART_ABANDONMENT, Task
from training.rhythm import RHYTHM_FEATURES, PurchaseRhythm

ESTIMATORS = ("hgb", "logistic")


def make_preprocessor(numeric: list[str], categorical: list[str], scale: bool) -> ColumnTransformer:
    """One-hot categoricals; numeric passed through with NaN (trees) or imputed and scaled."""
    one_hot = OneHotEncoder(
        handle_unknown="infrequent_if_exist", min_frequency=5, sparse_output=False
    )
    if scale:
        numeric_steps = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
        )
    else:
        numeric_steps = "passthrough"
    return ColumnTransformer(
        [("categorical", one_hot, categorical), ("numeric", numeric_steps, numeric)],
        remainder="drop",
        verbose_feature_names_out=False,
    )


def make_classifier_pipeline(
    numeric: list[str],
    categorical: list[str],
    estimator: str = "hgb",
    random_state: int = 0,
    max_iter: int = 150,
    rhythm_horizon_days: int | None = None,
) -> Pipeline:
    """An uncalibrated pipeline: preprocessing, then HistGradientBoosting or logistic regression.

    With ``rhythm_horizon_days`` a ``PurchaseRhythm`` step comes first and its BG/NBD columns
    join the numeric ones (the input columns stay the same).
    """
    if estimator == "hgb":
        model = HistGradientBoostingClassifier(
            learning_rate=0.1,
            max_iter=max_iter,
            max_leaf_nodes=31,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=10,
            random_state=random_state,
        )
        scale = False
    elif estimator == "logistic":
        model = LogisticRegression(C=0.5, max_iter=500)
        scale = True
    else:
        raise ValueError(f"unknown estimator {estimator!r}; choose from {ESTIMATORS}")
    steps = []
    if rhythm_horizon_days is not None:
        steps.append(("rhythm", PurchaseRhythm(rhythm_horizon_days)))
        numeric = [*numeric, *RHYTHM_FEATURES]
    steps += [("features", make_preprocessor(numeric, categorical, scale)), ("model", model)]
    return Pipeline(steps)


def calibrated(pipeline: Pipeline, folds: int = 2, random_state: int = 0) -> CalibratedClassifierCV:
    """Sigmoid calibration on out-of-fold scores; one refitted pipeline is kept for serving.

    Two folds: a sigmoid has two parameters, and every fold is one more boosting fit. The folds
    are shuffled: training rows are ordered by cutoff, and unshuffled folds would calibrate
    a model of one period on another (measured: log loss 0.39 instead of 0.30).
    """
    folds_of = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    return CalibratedClassifierCV(pipeline, method="sigmoid", cv=folds_of, ensemble=False)


def make_brand_switch_pipeline(
    estimator: str = "hgb",
    random_state: int = 0,
    max_iter: int = 150,
    rhythm_horizon_days: int | None = None,
) -> CalibratedClassifierCV:
    """The calibrated brand-switch model over the task's features (with the purchase-rhythm
    step when ``rhythm_horizon_days`` is given, as the trainer does)."""
    numeric = [c for c in BRAND_SWITCH.features if c not in BRAND_SWITCH.categorical]
    return calibrated(
        make_classifier_pipeline(
            numeric,
            list(BRAND_SWITCH.categorical),
            estimator,
            random_state,
            max_iter,
            rhythm_horizon_days=rhythm_horizon_days,
        )
    )


def make_cart_abandonment_pipeline(
    estimator: str = "hgb", random_state: int = 0, max_iter: int = 150
) -> CalibratedClassifierCV:
    """The calibrated cart-abandonment model over the task's features."""
    numeric = [c for c in CART_ABANDONMENT.features if c not in CART_ABANDONMENT.categorical]
    return calibrated(
        make_classifier_pipeline(
            numeric, list(CART_ABANDONMENT.categorical), estimator, random_state, max_iter
        )
    )


def make_task_pipeline(
    task: str | Task, estimator: str = "hgb", random_state: int = 0, max_iter: int = 150
) -> CalibratedClassifierCV:
    """The calibrated pipeline of a task (or task name), as its recipe makes it."""
    # Imported here: the recipes module builds on this one.
    from training.recipes import recipe_for

    return recipe_for(task).pipeline(
        estimator=estimator, random_state=random_state, max_iter=max_iter
    )
