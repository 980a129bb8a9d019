"""Dynamic batching of online predictions within one worker process.

A model call has a fixed per-call cost (with the compiled model mostly the boosting's walk over
its trees, one call per tree; through the pipeline pandas, input checks and the
ColumnTransformer as well), so 200 rows cost little more than one. Request threads hand their
rows to one batching thread; while it runs a model call, the rows of the next requests queue up
and go into the following call together. Nothing waits on purpose: a lone request is predicted
at once, concurrent ones share calls.

Rows of different model versions are never mixed in one call: each request's rows are
predicted by exactly the ``ServedModel`` the request holds.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from model_service.champions import ServedModel
from model_service.columns import Columns, concat, row_count

MAX_BATCH_ROWS = 20_000
# A model call that takes longer than this is broken; the request fails instead of hanging.
WAIT_SECONDS = 120.0


@dataclass
class _Job:
    served: ServedModel
    rows: Columns
    done: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


class PredictionBatcher:
    """Merges concurrent ``predict_proba`` calls of this process into shared model calls."""

    def __init__(self, max_rows: int = MAX_BATCH_ROWS) -> None:
        self.max_rows = max_rows
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def predictor(self, served: ServedModel) -> Callable[[Columns], np.ndarray]:
        """A ``predict_proba`` for ``served`` whose calls are batched with other requests'."""
        return lambda rows: self.predict(served, rows)

    def predict(self, served: ServedModel, rows: Columns) -> np.ndarray:
        self._ensure_thread()
        job = _Job(served, rows)
        self._jobs.put(job)
        if not job.done.wait(WAIT_SECONDS):
            raise TimeoutError("the model did not answer in time")
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _ensure_thread(self) -> None:
        # A thread does not survive a fork: start one per process, on first use.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._jobs = queue.SimpleQueue()
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="kundresa-predict-batcher", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            jobs = [self._jobs.get()]
            rows = row_count(jobs[0].rows)
            while rows < self.max_rows:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                jobs.append(job)
                rows += row_count(job.rows)
            by_model: dict[int, list[_Job]] = {}
            for job in jobs:
                by_model.setdefault(id(job.served), []).append(job)
            for group in by_model.values():
                self._predict_group(group)

    @staticmethod
    def _predict_group(group: list[_Job]) -> None:
        try:
            rows = group[0].rows if len(group) == 1 else concat([job.rows for job in group])
            probabilities = group[0].served.predict_proba(rows)
            start = 0
            for job in group:
                count = row_count(job.rows)
                job.result = probabilities[start : start + count]
                start += count
        except Exception as exc:  # handed to every waiting request, which answers 500
            for job in group:
                job.error = exc
        finally:
            for job in group:
                job.done.set()
