"""``kundresa score --engine spark``: Spark in local mode scores exactly as one process does.

Two copies of the trained synthetic shop are scored, one in process (``score_all``) and one
on Spark (``local[2]``), and every stored row is compared: the same customers and carts, the
same probability within 1e-9, the same band and the same reasons. SQLite goes through a
Parquet export (Spark reads PostgreSQL only over JDBC); PostgreSQL is read over JDBC.
A job killed half-way leaves nothing, and run again leaves each score once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shared.db.session import dispose_engines, session_scope
from shared.db.tables import RiskScore
from shared.spark.session import java_executable
from tests.conftest import journey_tables_on_postgres

pytestmark = pytest.mark.skipif(
    java_executable() is None,
    reason="Spark needs a Java runtime (apt-get install openjdk-17-jre-headless)",
)

# The test shop is small: 4 groups of people instead of 16 still spread people over several
# groups, with a quarter of the Python calls and shuffle tasks.
SMALL_SHOP = {"spark.sql.shuffle.partitions": "4"}


def _copy_sqlite(trained, folder: Path) -> str:
    dispose_engines()
    source = Path(trained.database_url.removeprefix("sqlite:///"))
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / "kundresa.db")
    return f"sqlite:///{folder / 'kundresa.db'}"


def _rows(database_url: str, task: str, as_of) -> dict:
    with session_scope(database_url) as session:
        found = session.execute(
            select(RiskScore).where(RiskScore.task == task, RiskScore.as_of == as_of)
        ).scalars()
        return {
            (r.customer_id, r.visitor_id, r.cart_id): (
                r.probability,
                r.band,
                [x["feature"] for x in r.reasons or []],
                r.stage,
                r.segment,
                r.value,
            )
            for r in found
        }


def _assert_same(expected: dict, got: dict) -> None:
    assert expected, "the in-process run scored nothing"
    assert set(got) == set(expected)
    worst = max(abs(got[k][0] - expected[k][0]) for k in expected)
    assert worst < 1e-9
    for key, (_, band, reasons, stage, segment, value) in expected.items():
        assert got[key][1:] == (band, reasons, stage, segment, value), key


@pytest.mark.parametrize(("task", "days_back"), [("brand_switch", 0), ("cart_abandonment", 20)])
def test_spark_scores_equal_the_in_process_scores(trained, tmp_path, task, days_back):
    from model_service.scoring import score_all
    from model_service.spark_scoring import score_all_spark

    as_of = trained.end - timedelta(days=days_back, hours=1)
    local = _copy_sqlite(trained, tmp_path / "local")
    spark = _copy_sqlite(trained, tmp_path / "spark")
    score_all(trained.settings(tmp_path, database_url=local), task, as_of=as_of, progress=False)
    run = score_all_spark(
        trained.settings(tmp_path, database_url=spark),
        task,
        as_of=as_of,
        master="local[2]",
        spark_conf=SMALL_SHOP,
    )
    assert run.published
    _assert_same(_rows(local, task, as_of), _rows(spark, task, as_of))


@pytest.fixture
def postgres_copy(trained, postgres_template):
    """The trained shop's journey tables copied into a fresh PostgreSQL database."""
    with journey_tables_on_postgres(trained.database_url, postgres_template) as url:
        yield url


def test_spark_reads_postgresql_over_jdbc_and_scores_the_same(trained, tmp_path, postgres_copy):
    from shared.spark.session import DEFAULT_JDBC_JAR

    if not DEFAULT_JDBC_JAR.is_file():  # scripts/ensure-jdbc-driver installs it where it may
        pytest.skip("no PostgreSQL JDBC driver: apt-get install libpostgresql-jdbc-java")
    from model_service.scoring import score_all
    from model_service.spark_scoring import score_all_spark

    as_of = trained.end - timedelta(days=3)
    local = _copy_sqlite(trained, tmp_path / "local")
    score_all(
        trained.settings(tmp_path, database_url=local),
        "cart_abandonment",
        as_of=as_of,
        progress=False,
    )
    score_all_spark(
        trained.settings(tmp_path, database_url=postgres_copy),
        "cart_abandonment",
        as_of=as_of,
        master="local[2]",
        spark_conf=SMALL_SHOP,
    )
    _assert_same(
        _rows(local, "cart_abandonment", as_of), _rows(postgres_copy, "cart_abandonment", as_of)
    )


def test_a_job_killed_half_way_leaves_nothing_and_a_rerun_leaves_each_score_once(trained, tmp_path):
    """The job is killed once Spark has started working (its first stage is logged), then
    run again to the end: each customer has one score for that as-of."""
    spark = _copy_sqlite(trained, tmp_path / "spark")
    as_of = (trained.end - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S")
    env = {
        **os.environ,
        "DATABASE_URL": spark,
        "MLFLOW_TRACKING_URI": trained.mlflow_uri,
        "MLFLOW_ARTIFACT_ROOT": trained.artifact_root,
        "SECRET_KEY": "x" * 40,
        "KUNDRESA_VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    command = [
        sys.executable, "-m", "kundresa", "score", "--task", "brand_switch", "--engine", "spark",
        "--master", "local[2]", "--as-of", as_of,
        *(part for key, value in SMALL_SHOP.items() for part in ("--conf", f"{key}={value}")),
    ]  # fmt: skip
    job = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    for line in job.stdout:
        if "features:" in line:  # the first stage is done; publishing has not begun
            break
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    with session_scope(spark) as session:
        assert session.scalar(select(func.count()).select_from(RiskScore).where(
            RiskScore.as_of == trained.end - timedelta(days=7))) == 0  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and "already published" in again.stdout, again.stdout
    with session_scope(spark) as session:
        per_customer = session.execute(
            select(RiskScore.customer_id, func.count())
            .where(
                RiskScore.task == "brand_switch", RiskScore.as_of == trained.end - timedelta(days=7)
            )
            .group_by(RiskScore.customer_id)
        ).all()
    assert per_customer and all(count == 1 for _, count in per_customer)


def test_missing_java_is_one_line_before_any_work(monkeypatch, tmp_path):
    from shared.spark.session import SparkUnavailable, preflight

    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SparkUnavailable, match="Java 17"):
        preflight(jdbc=False)
    monkeypatch.undo()
    with pytest.raises(SparkUnavailable, match="libpostgresql-jdbc-java"):
        preflight(jdbc=True, jar=tmp_path / "missing.jar")
