"""A numpy evaluation of the served pipeline, derived at load time from its fitted parts.

The pipeline's ``predict_proba`` on a few rows costs ~5 ms, nearly all of it per-call work
(pandas column selection, the ColumnTransformer, input checks), not the trees. For the shape
the trainer makes (``training.pipelines``): ``CalibratedClassifierCV(ensemble=False)`` over
``Pipeline([ColumnTransformer(OneHotEncoder, passthrough), estimator])`` with one sigmoid,
this module evaluates the SAME fitted objects without that work:

- each categorical column's one-hot block is looked up in a table made by asking the fitted
  encoder to transform every category it knows and one it has never seen;
- numeric columns are placed where the ColumnTransformer passes them through;
- then the fitted estimator's own ``decision_function`` and the fitted calibrator's own
  ``predict``, exactly as ``CalibratedClassifierCV.predict_proba`` calls them.

Nothing is refitted or copied by hand, so what is trained is still what is served.
``compile_model`` gives None for any other shape, and for this one unless the result equals
the pipeline's own probabilities (within ``TOLERANCE``) on probe rows around the reference
row; the served model then calls the pipeline itself. A categorical value that is not a
string (the encoder has its own rules for None and NaN) also sends that call to the pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from model_service.columns import Columns, row_count, to_frame

log = logging.getLogger(__name__)

TOLERANCE = 1e-12
# A category no encoder has seen: its table row is what the encoder does with unknown values.
UNSEEN = "\x00kundresa-unseen\x00"
PROBE_RANDOM_ROWS = 400


@dataclass(frozen=True)
class OneHotBlock:
    """Where one categorical column lands in the encoded matrix, and with which values."""

    column: str
    positions: slice | np.ndarray  # the encoded columns this input column changes
    codes: Mapping[str, int]  # category → row of ``table``; the last row is for unseen ones
    table: np.ndarray


@dataclass(frozen=True)
class CompiledModel:
    """The fitted pipeline's arithmetic on numpy columns (see the module docstring)."""

    template: np.ndarray  # one encoded row with what no input column changes
    blocks: tuple[OneHotBlock, ...]
    numeric: tuple[str, ...]
    numeric_positions: slice | np.ndarray
    estimator: Any  # the fitted classifier inside the pipeline
    calibrator: Any  # the fitted sigmoid of CalibratedClassifierCV
    # A first step that adds columns (brand switch's training.rhythm.PurchaseRhythm), or None.
    added: Any = None

    def encode(self, columns: Columns) -> np.ndarray | None:
        """The matrix the ColumnTransformer would make, or None when a categorical value is
        not a string."""
        if self.added is not None:
            columns = {**columns, **self.added.rhythm_columns(columns)}
        n = row_count(columns)
        matrix = np.empty((n, len(self.template)))
        matrix[:] = self.template
        for block in self.blocks:
            unseen = len(block.table) - 1
            values = columns[block.column]
            codes = np.array([block.codes.get(value, unseen) for value in values], dtype=np.intp)
            if (codes == unseen).any() and not all(isinstance(value, str) for value in values):
                return None
            matrix[:, block.positions] = block.table[codes]
        if self.numeric:
            # Stacked as rows and written transposed: column by column writes into a C-ordered
            # matrix cost ten times more on a batch-sized chunk.
            matrix[:, self.numeric_positions] = np.stack(
                [np.asarray(columns[name], dtype=float) for name in self.numeric]
            ).T
        return matrix

    def predict_proba(self, columns: Columns) -> np.ndarray | None:
        """Probability of the positive class, or None when only the pipeline can answer."""
        matrix = self.encode(columns)
        if matrix is None:
            return None
        return self.calibrator.predict(self.estimator.decision_function(matrix))


def compile_model(
    model: Any, feature_columns: Sequence[str], reference_row: Mapping[str, Any]
) -> CompiledModel | None:
    """The compiled form of ``model`` if it has the trainer's shape and gives its probabilities
    on the probe rows; else None (and a log line saying why)."""
    try:
        compiled = _derive(model)
        if compiled is None:
            return _uncompiled("not the trained shape", logging.INFO)
        probe = probe_columns(compiled, feature_columns, reference_row)
        expected = model.predict_proba(to_frame(probe, feature_columns))[:, 1]
        got = compiled.predict_proba(probe)
    except Exception as exc:  # any surprise means: serve through the pipeline
        return _uncompiled(f"{type(exc).__name__}: {exc}")
    if got is None or got.shape != expected.shape:
        return _uncompiled("probe rows not predicted")
    worst = float(np.max(np.abs(got - expected)))
    if not worst <= TOLERANCE:
        return _uncompiled(f"differs by {worst:.3g} on probes")
    return compiled


def _uncompiled(reason: str, level: int = logging.WARNING) -> None:
    log.log(level, "model served through its pipeline", extra={"reason": reason})


def _derive(model: Any) -> CompiledModel | None:
    """The compiled parts when ``model`` has the trainer's shape, else None."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    if not isinstance(model, CalibratedClassifierCV) or model.method != "sigmoid":
        return None
    if len(model.calibrated_classifiers_) != 1 or len(model.classes_) != 2:
        return None
    calibrated = model.calibrated_classifiers_[0]
    pipeline = calibrated.estimator
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) not in (2, 3):
        return None
    added = pipeline.steps[0][1] if len(pipeline.steps) == 3 else None
    if added is not None and not hasattr(added, "rhythm_columns"):
        return None
    transformer, estimator = pipeline.steps[-2][1], pipeline.steps[-1][1]
    if not isinstance(transformer, ColumnTransformer) or not hasattr(
        estimator, "decision_function"
    ):
        return None
    template = np.zeros(max(where.stop for where in transformer.output_indices_.values()))
    blocks: list[OneHotBlock] = []
    numeric: list[str] = []
    numeric_positions: list[int] = []
    for name, fitted, columns in transformer.transformers_:
        where = transformer.output_indices_[name]
        if where.start == where.stop:  # dropped, e.g. the remainder
            continue
        if isinstance(fitted, OneHotEncoder):
            found = _one_hot_blocks(fitted, list(columns), where.start)
            if found is None:
                return None
            constant, encoder_blocks = found
            template[where] = constant
            blocks.extend(encoder_blocks)
        elif isinstance(fitted, FunctionTransformer) and fitted.func is None:
            # What a fitted ColumnTransformer keeps for "passthrough".
            numeric.extend(columns)
            numeric_positions.extend(range(where.start, where.stop))
        else:
            return None
    return CompiledModel(
        template=template,
        blocks=tuple(blocks),
        numeric=tuple(numeric),
        numeric_positions=_index(np.array(numeric_positions, dtype=int)),
        estimator=estimator,
        calibrator=calibrated.calibrators[0],
        added=added,
    )


def _one_hot_blocks(
    encoder: Any, columns: list[str], offset: int
) -> tuple[np.ndarray, list[OneHotBlock]] | None:
    """(the encoded row with every column at its first category, one block per column),
    worked out by transforming every category of one column while the others stay put."""
    categories = [[c for c in known if isinstance(c, str)] for known in encoder.categories_]
    if any(not known for known in categories):
        return None
    first = {column: known[0] for column, known in zip(columns, categories, strict=True)}
    constant = encoder.transform(pd.DataFrame([first], columns=columns, dtype=object))[0]
    blocks = []
    for column, known in zip(columns, categories, strict=True):
        values = [*known, UNSEEN]
        probe = pd.DataFrame({c: [first[c]] * len(values) for c in columns}, dtype=object)
        probe[column] = np.array(values, dtype=object)
        encoded = np.asarray(encoder.transform(probe), dtype=float)
        changes = np.flatnonzero((encoded != encoded[0]).any(axis=0))
        blocks.append(
            OneHotBlock(
                column=column,
                positions=_index(changes + offset),
                codes={value: i for i, value in enumerate(known)},
                table=encoded[:, changes],
            )
        )
    return constant, blocks


def _index(positions: np.ndarray) -> slice | np.ndarray:
    """A slice when the positions are one contiguous run (writes through it are far cheaper
    than through a list of positions), else the positions."""
    if len(positions) and np.array_equal(
        positions, np.arange(positions[0], positions[0] + len(positions))
    ):
        return slice(int(positions[0]), int(positions[0]) + len(positions))
    return positions


def probe_columns(
    compiled: CompiledModel,
    feature_columns: Sequence[str],
    reference_row: Mapping[str, Any],
    random_rows: int = PROBE_RANDOM_ROWS,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Rows that exercise every category (and an unseen one) of each categorical column and
    typical, extreme and missing values of each numeric one, around the reference row, plus
    seeded random mixtures of them."""
    rng = np.random.default_rng(seed)
    choices = {block.column: [*block.codes, UNSEEN] for block in compiled.blocks}
    base: dict[str, Any] = {}
    for name in feature_columns:
        value = reference_row.get(name)
        if name in choices:
            base[name] = value if isinstance(value, str) else choices[name][0]
        else:
            base[name] = np.nan if value is None else float(value)
    rows: list[dict[str, Any]] = [dict(base)]
    for name in feature_columns:
        if name in choices:
            rows.extend({**base, name: value} for value in choices[name])
        else:
            rows.extend({**base, name: value} for value in _numeric_probes(base[name]))
    for _ in range(random_rows):
        row = {}
        for name in feature_columns:
            if name in choices:
                row[name] = choices[name][rng.integers(len(choices[name]))]
            else:
                options = _numeric_probes(base[name])
                row[name] = options[rng.integers(len(options))] * rng.choice([1.0, rng.random()])
        rows.append(row)
    return {
        name: np.array([row[name] for row in rows], dtype=object if name in choices else float)
        for name in feature_columns
    }


def _numeric_probes(reference: float) -> list[float]:
    typical = 1.0 if np.isnan(reference) else reference
    return [np.nan, 0.0, 1.0, -1.0, typical, typical * 0.5, typical * 2 + 1, 1e9, -1e9]
