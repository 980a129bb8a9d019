"""Champion models from the MLflow registry, loaded fully and swapped atomically.

Each task has ONE reference to an immutable :class:`ServedModel` (estimator, name, version,
metadata, load time). A request reads that reference once and uses it to the end, so it can
never mix two versions; a poller thread replaces the reference when the alias moves, after the
new version is downloaded, loaded and checked. Anything that goes wrong while polling (registry
unreachable, a version whose columns do not match the feature builder) is logged and shown on
``/readyz`` and ``/v1/models``; the model already loaded keeps serving. Loading also derives
the pipeline's compiled numpy form, kept only when it gives the pipeline's own probabilities
(``compiled.py``; ``compiled`` in the status says which is serving).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from model_service.columns import Columns, as_columns, to_frame
from model_service.compiled import CompiledModel, compile_model
from shared import risk_scale
from shared.risk_scale import CutPoints
from shared.settings import Settings
from shared.tasks import (
    META_BASE_RATE,
    META_DEFINITION,
    META_FEATURES,
    META_REFERENCE,
    META_RISK_BANDS,
    META_TASK,
    TASKS,
    TaskDefinition,
    task_by_name,
)

log = logging.getLogger(__name__)


class ModelRefused(Exception):
    """A registered version that cannot be served here; the message says why."""


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version and everything a prediction needs from its metadata."""

    task: str
    name: str
    version: str
    model: Any = field(repr=False)
    feature_columns: tuple[str, ...]
    # The scale training drew on its validation scores: used until this version has scored
    # a batch, whose own cut points then take over (see model_service/served_scale.py).
    scale: CutPoints
    reference_row: Mapping[str, Any]
    loaded_at: datetime
    definition: TaskDefinition | None = None  # None: registered before definitions existed
    base_rate: float | None = None  # share of positives on the rows training reported
    # The pipeline's own arithmetic without its per-call overhead, when it verified equal at
    # load time (see compiled.py); None means every call goes through the pipeline.
    compiled: CompiledModel | None = field(default=None, repr=False)

    def predict_proba(self, features: pd.DataFrame | Columns) -> np.ndarray:
        """Probability of the positive class (the customer leaves / the cart is abandoned) for
        rows given as a DataFrame or as numpy columns holding at least the feature columns."""
        if self.compiled is not None:
            found = self.compiled.predict_proba(as_columns(features, self.feature_columns))
            if found is not None:
                return found
        if isinstance(features, pd.DataFrame):
            frame = features[list(self.feature_columns)]
        else:
            frame = to_frame(features, self.feature_columns)
        return self.model.predict_proba(frame)[:, 1]

    def definition_text(self, locale: str = "en") -> str | None:
        """What a score means in words ("no purchase within 90 days"); None when unknown."""
        return self.definition.summary(locale) if self.definition else None

    def describe(self, locale: str = "en") -> dict[str, Any]:
        return {
            "task": self.task,
            "name": self.name,
            "version": self.version,
            "loaded_at": self.loaded_at,
            "feature_columns": list(self.feature_columns),
            "compiled": self.compiled is not None,
            "definition": self.definition.as_dict() if self.definition else None,
            "definition_text": self.definition_text(locale),
            "base_rate": self.base_rate,
            "risk_scale": self.scale.as_dict(),
        }


def builder_columns() -> dict[str, tuple[str, ...]]:
    """The columns the shared feature builder produces, per task (what a model must take)."""
    return {name: task.features for name, task in TASKS.items()}


def check_compatible(
    task: str,
    metadata: Mapping[str, Any],
    signature_inputs: Sequence[str] | None,
    expected: Sequence[str],
) -> list[str]:
    """Why a model's metadata and signature do not fit this task's feature builder (empty: fits)."""
    problems: list[str] = []
    if metadata.get(META_TASK) not in (None, task):
        problems.append(f"it was trained for task {metadata.get(META_TASK)!r}, not {task!r}")
    columns = metadata.get(META_FEATURES)
    if not isinstance(columns, list) or not columns:
        problems.append(f"its metadata has no {META_FEATURES!r} list")
        columns = list(signature_inputs or [])
    missing = sorted(set(expected) - set(columns))
    extra = sorted(set(columns) - set(expected))
    if missing:
        problems.append(f"it lacks feature columns the builder makes: {', '.join(missing)}")
    if extra:
        problems.append(f"it expects columns the builder does not make: {', '.join(extra)}")
    if signature_inputs is None:
        problems.append("it has no input signature")
    elif set(signature_inputs) != set(columns):
        problems.append("its input signature and its feature_columns metadata disagree")
    # One scale per task: older models' per-stage entries are ignored, "default" is the scale.
    scale = risk_scale.from_metadata(metadata.get(META_RISK_BANDS))
    if scale is None:
        problems.append(f"its metadata has no {META_RISK_BANDS!r} with a 'default' entry")
    elif not 0.0 <= scale.medium <= scale.high <= 1.0:
        problems.append("its risk band thresholds for 'default' are not 0 ≤ medium ≤ high ≤ 1")
    if metadata.get(META_DEFINITION) is not None:
        definition = _definition(metadata)
        if definition is None:
            problems.append(f"its {META_DEFINITION!r} metadata is not a task definition")
        elif definition.task != task:
            problems.append(f"its task definition is for {definition.task!r}, not {task!r}")
    return problems


def _definition(metadata: Mapping[str, Any]) -> TaskDefinition | None:
    found = metadata.get(META_DEFINITION)
    if not isinstance(found, Mapping):
        return None
    try:
        return TaskDefinition.from_dict(found)
    except (KeyError, TypeError, ValueError):
        return None


def _base_rate(metadata: Mapping[str, Any]) -> float | None:
    try:
        rate = float(metadata[META_BASE_RATE])
    except (KeyError, TypeError, ValueError):
        return None
    return rate if 0.0 <= rate <= 1.0 else None


# Modules whose types a served model may contain. The allow-list in a model's own MLmodel file
# is written by whoever logged it, so we trust our list, not theirs. training.rhythm is ours:
# the brand-switch pipeline's BG/NBD step, which holds four floats and a horizon.
TRUSTED_MODULES: tuple[str, ...] = ("sklearn.", "numpy.", "scipy.", "training.rhythm.")


def load_estimator(model_dir: str, flavor: Mapping[str, Any]) -> Any:
    """Load a skops-saved scikit-learn model, refusing any type outside ``TRUSTED_MODULES``.

    Pickle files can run arbitrary code when loaded, so only the skops format is served.
    """
    import skops.io

    if flavor.get("serialization_format") != "skops":
        raise ModelRefused("it is not saved in the skops format (pickles are not loaded)")
    path = os.path.join(model_dir, flavor["pickled_model"])
    untrusted = skops.io.get_untrusted_types(file=path)
    foreign = [name for name in untrusted if not name.startswith(TRUSTED_MODULES)]
    if foreign:
        raise ModelRefused(f"it contains types we do not trust: {', '.join(foreign)}")
    return skops.io.load(path, trusted=untrusted)


def load_version(
    tracking_uri: str, task: str, name: str, version: str, expected: Sequence[str]
) -> ServedModel:
    """Download, check and load one registered version; ModelRefused when it does not fit."""
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # Resolved through our own client: a models:/ URI would use the process-wide registry.
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    source = client.get_model_version_download_uri(name, version)
    with tempfile.TemporaryDirectory(prefix="kundresa-model-") as folder:
        path = download_artifacts(artifact_uri=source, dst_path=folder, tracking_uri=tracking_uri)
        mlmodel = Model.load(path)
        metadata = dict(mlmodel.metadata or {})
        inputs = mlmodel.get_input_schema()
        signature_inputs = inputs.input_names() if inputs is not None else None
        problems = check_compatible(task, metadata, signature_inputs, expected)
        if "sklearn" not in mlmodel.flavors:
            problems.append("it is not a scikit-learn model")
        if problems:
            raise ModelRefused("; ".join(problems))
        model = load_estimator(path, mlmodel.flavors["sklearn"])
    if not hasattr(model, "predict_proba"):
        raise ModelRefused("it has no predict_proba")
    feature_columns = tuple(metadata[META_FEATURES])
    reference = dict(metadata.get(META_REFERENCE) or {})
    return ServedModel(
        task=task,
        name=name,
        version=str(version),
        model=model,
        feature_columns=feature_columns,
        scale=risk_scale.from_metadata(metadata[META_RISK_BANDS]),
        reference_row=reference,
        loaded_at=datetime.now(UTC),
        definition=_definition(metadata),
        base_rate=_base_rate(metadata),
        compiled=compile_model(model, feature_columns, reference),
    )


def load_champion(settings: Settings, task: str) -> ServedModel:
    """Resolve ``<model>@<alias>`` once and load that version (batch scoring, benchmarks)."""
    from mlflow import MlflowClient

    found_task = task_by_name(task)
    uri = settings.mlflow_tracking_uri
    found = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias(
        found_task.model_name, found_task.alias
    )
    return load_version(uri, task, found_task.model_name, str(found.version), found_task.features)


@dataclass
class TaskState:
    """What the poller knows about one task besides the served model (shown on /readyz)."""

    model_name: str
    alias: str
    alias_version: str | None = None
    checked_at: datetime | None = None
    refused: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class ChampionRegistry:
    """The champions of both tasks for one process, kept fresh by a poller thread."""

    def __init__(
        self, settings: Settings, expected_columns: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.tracking_uri = settings.mlflow_tracking_uri
        self.poll_seconds = settings.model_poll_seconds
        self._expected = expected_columns
        self._states = {
            name: TaskState(model_name=task.model_name, alias=task.alias)
            for name, task in TASKS.items()
        }
        # The one reference per task that requests read; replaced whole, never mutated.
        self._served: dict[str, ServedModel] = {}
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_pid: int | None = None

    @property
    def expected_columns(self) -> Mapping[str, Sequence[str]]:
        if self._expected is None:
            self._expected = builder_columns()
        return self._expected

    def get(self, task: str) -> ServedModel | None:
        """The model serving ``task`` right now, or None when no champion could be loaded."""
        return self._served.get(task)

    def refresh(self) -> None:
        """Check both aliases once and swap in any new version that loads and fits."""
        with self._refresh_lock:
            for task in TASKS:
                self._refresh_task(task)

    def _refresh_task(self, task: str) -> None:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        state = self._states[task]
        now = datetime.now(UTC)
        try:
            client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            found = client.get_model_version_by_alias(state.model_name, state.alias)
        except MlflowException as exc:
            # A missing alias is not an outage: report it; a loaded model keeps serving.
            state.checked_at = now
            state.alias_version = None
            state.error = {"message": _first_line(exc), "at": now}
            log.warning(
                "champion lookup failed",
                extra={"task": task, "model": state.model_name, "error": _first_line(exc)},
            )
            return
        except Exception as exc:  # unreachable store, network: keep serving what we have
            state.checked_at = now
            state.error = {"message": f"registry unreachable: {_first_line(exc)}", "at": now}
            log.warning("registry unreachable", extra={"task": task, "error": _first_line(exc)})
            return
        version = str(found.version)
        state.checked_at, state.alias_version, state.error = now, version, None
        current = self._served.get(task)
        if current is not None and current.version == version:
            return
        if state.refused is not None and state.refused["version"] == version:
            return
        try:
            loaded = load_version(
                self.tracking_uri, task, state.model_name, version, self.expected_columns[task]
            )
        except ModelRefused as exc:
            state.refused = {"version": version, "reason": str(exc), "at": now}
            log.error(
                "model version refused",
                extra={
                    "task": task,
                    "model": state.model_name,
                    "version": version,
                    "reason": str(exc),
                },
            )
            return
        except Exception as exc:
            state.error = {
                "message": f"loading version {version} failed: {_first_line(exc)}",
                "at": now,
            }
            log.exception("model version failed to load", extra={"task": task, "version": version})
            return
        state.refused = None
        self._served = {**self._served, task: loaded}
        log.info(
            "model swapped",
            extra={
                "task": task,
                "model": state.model_name,
                "version": version,
                "previous": current.version if current else None,
            },
        )

    def start_polling(self) -> None:
        """Start the poller thread in this process (idempotent; safe to call again after fork)."""
        pid = os.getpid()
        if self._thread is not None and self._thread_pid == pid and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._poll, name="kundresa-model-poller", daemon=True
        )
        self._thread_pid = pid
        self._thread.start()

    def stop_polling(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread_pid == os.getpid():
            self._thread.join(timeout=30)
        self._thread = None

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # the poller must never die
                log.exception("model poll failed")

    def status(self, locale: str = "en") -> dict[str, Any]:
        """Per task: the version served and since when (with its task definition in words of
        ``locale``), the alias, refusals and errors (plain JSON: times are ISO 8601 strings)."""
        report: dict[str, Any] = {}
        for task, state in self._states.items():
            served = self._served.get(task)
            report[task] = _iso(
                {
                    "model_name": state.model_name,
                    "alias": state.alias,
                    "loaded": served.describe(locale) if served else None,
                    "alias_version": state.alias_version,
                    "checked_at": state.checked_at,
                    "refused": state.refused,
                    "error": state.error,
                }
            )
        return report


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _iso(item) for key, item in value.items()}
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
