"""Both models judged where someone acts, beside simple baselines and an earlier commit's models.

    .venv/bin/python bench/decision_time.py [--customers 3000] [--days 420] [--seed 5]
        [--database-url URL] [--before REF]

Generates a synthetic shop (unless ``--database-url`` names one), trains both tasks with
``kundresa train``'s own code into a throw-away MLflow store, and prints ROC-AUC, PR-AUC and
Brier on each task's test window: the model, the baselines the trainer logged, and for carts
the same on each cart's first snapshot. ``--before REF`` also checks out REF (a commit of this
repository) in a temporary ``git worktree``, fits the models the way REF's trainer did
(``bench/previous_recipe.py``, run with REF's code) and scores them on the SAME test rows, so
an earlier recipe is measured the same way as today's. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

END = datetime(2026, 10, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--days", type=int, default=420)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--before", default=None, help="a commit whose recipe to measure too")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from shared.db.migrate import upgrade
    from shared.journey_loader import load_journey_frames
    from shared.tasks import TASKS
    from training.datasets import first_snapshots
    from training.evaluate import classification_metrics
    from training.mlflow_io import load_registered_model
    from training.recipes import recipe_for
    from training.synth import generate
    from training.train import train

    work = Path(tempfile.mkdtemp(prefix="decision-time-"))
    url = args.database_url
    if url is None:
        url = f"sqlite:///{work / 'shop.db'}"
        upgrade(url)
        started = time.perf_counter()
        generate(url, args.customers, args.days, args.seed, end=END, progress=False)
        print(
            f"synth: {args.customers:,} customers, {args.days} days, seed {args.seed} "
            f"in {time.perf_counter() - started:.0f} s"
        )
    os.environ["MLFLOW_ARTIFACT_ROOT"] = (work / "artifacts").as_uri()
    tracking = f"sqlite:///{work / 'mlflow.db'}"

    before = _previous_models(url, args.before, work) if args.before else {}
    frames = load_journey_frames(url, END)
    for spec in TASKS.values():
        task = spec.name
        result = train(url, task, tracking_uri=tracking, frames=frames)
        # The trainer's own rows: same recipe, same defaults.
        dataset = recipe_for(spec).dataset(frames, spec.horizon_days(), None, 0, None)
        model = load_registered_model(result.model_name, result.version)
        test = dataset.evaluation
        print(
            f"\n{task}: {result.definition.summary()}; chosen {result.estimator} "
            f"on {result.chosen_on}; test rows from {dataset.evaluation_cutoff:%Y-%m-%d}"
        )
        parts = [("test window", test)]
        if spec.entity == "cart":
            parts.append(("first snapshot of each cart", first_snapshots(test)))
        for title, rows in parts:
            y = rows["label"].to_numpy()
            print(f"  {title}: {len(rows):,} rows, base rate {y.mean():.3f}")
            scores = {"model": model.predict_proba(rows[dataset.features])[:, 1]}
            if task in before:
                old = before[task]
                scores[f"before ({args.before})"] = old["model"].predict_proba(
                    rows[old["features"]]
                )[:, 1]
            table = {name: classification_metrics(y, s) for name, s in scores.items()}
            if title == "test window":
                table.update(result.baselines)
            for name, metrics in table.items():
                print(
                    f"    {name:<28} ROC-AUC {metrics['roc_auc']:.3f}  "
                    f"PR-AUC {metrics['pr_auc']:.3f}  Brier {metrics['brier']:.3f}"
                )
        if task in before:
            own = before[task]["own"]
            print(
                f"    (before, on its own evaluation rows: ROC-AUC {own['roc_auc']:.3f}, "
                f"{own['rows']:,.0f} rows — the figure its run logged)"
            )


def _previous_models(url: str, ref: str, work: Path) -> dict[str, dict]:
    """Fit REF's recipe in a temporary worktree of REF; its pickled models by task."""
    import json

    from shared.tasks import TASK_NAMES

    tree = work / "before"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],
        check=True,
        capture_output=True,
    )
    try:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "previous_recipe.py"), url, str(work)],
            check=True,
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
        )
        print(f"before ({ref}): fitted in {time.perf_counter() - started:.0f} s")
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
            check=False,
            capture_output=True,
        )
    models = {}
    for task in TASK_NAMES:
        with (work / f"{task}.pkl").open("rb") as file:
            models[task] = pickle.load(file)  # noqa: S301 - written by this run, just now
        models[task]["own"] = json.loads((work / f"{task}.json").read_text())
    return models


if __name__ == "__main__":
    main()
