"""Scoring at scale: the in-process engine against Spark ``local[2]`` on the same machine.

    .venv/bin/python bench/score_scale.py [--customers 100000 --customers 1000000]
                                          [--task brand_switch] [--workdir var/bench-scale]
                                          [--engines local spark] [--limit-gib 8]
                                          [--copies-of 100000] [--command train]

For each size a synthetic shop (``training.synth``, the generator the tests use) is written
once into the work folder as PostgreSQL-free SQLite and a Parquet export, and reused by later
runs. Models are trained once on a small shop of the same generator and registered in the work
folder's MLflow store. Each engine then runs as its own process (`kundresa score`, the command
a user runs) with --as-of fixed, while this script samples every 0.2 s the resident memory of
the driver (the command's own Python process), of its Java child (in local mode Spark's driver
and executor JVM, whose heap ``spark.driver.memory`` caps) and of its whole process tree (Spark's
Python workers included). Printed per size and engine: wall time, those three peaks, customers
per second, and Spark's figures as a ratio of the in-process ones. With ``--copies-of N`` a
larger size is written as copies of the N-customer shop under new ids (see ``replicate``).
An engine whose tree passes ``--limit-gib`` is stopped and reported as over the limit.
``--command train`` measures `kundresa train` the same way instead (the whole history read by
one process, against snapshots built on Spark and a sample of them fitted in the driver).

Targets (issue 18): Spark's peak driver memory does not grow with the number of customers;
at 1,000,000 customers the in-process path finishes under 8 GiB or is shown to exceed it
while Spark finishes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

END = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 400
TRAIN_CUSTOMERS = 3000
GIB = 1024**3


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(parent, []).append(int(entry))
    return tree


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return ""


def _tree_rss(root: int) -> tuple[int, int]:
    """Resident memory of ``root`` and all its descendants, and of the Java ones among them."""
    tree = _children()
    total = java = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        rss = _rss(pid)
        total += rss
        if pid != root and _comm(pid) == "java":
            java += rss
        todo.extend(tree.get(pid, []))
    return total, java


def run_measured(command: list[str], env: dict[str, str], limit: int, log: Path) -> dict:
    """Run ``command``; wall time, peak driver and tree memory, and whether it hit ``limit``.
    Its output (Spark's stage lines among it) goes to the file ``log``, not a pipe: a pipe
    nobody reads until the end stops a talkative command once its buffer is full."""
    started = time.perf_counter()
    with log.open("w") as out:
        job = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        return _watch(job, started, limit, log)


def _watch(job: subprocess.Popen, started: float, limit: int, log: Path) -> dict:
    peak_driver = peak_tree = peak_java = 0
    over = False
    while job.poll() is None:
        peak_driver = max(peak_driver, _rss(job.pid))
        tree, java = _tree_rss(job.pid)
        peak_tree = max(peak_tree, tree)
        peak_java = max(peak_java, java)
        if tree > limit:
            over = True
            job.kill()
            break
        time.sleep(0.2)
    job.wait()
    output = log.read_text(errors="replace")
    return {
        "seconds": time.perf_counter() - started,
        "driver": peak_driver,
        "tree": peak_tree,
        "java": peak_java,
        "over": over,
        "ok": job.returncode == 0,
        "tail": output.strip().splitlines()[-3:],
    }


def prepare(workdir: Path, customers: int) -> Path:
    """The shop of ``customers`` customers (SQLite + Parquet export), written once."""
    from shared.db.migrate import upgrade
    from shared.parquet_export import export_table
    from training.synth import generate

    folder = workdir / f"shop-{customers}"
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'kundresa.db'}"
    upgrade(url)
    print(f"writing {customers:,} synthetic customers into {folder} (once) ...", flush=True)
    generate(url, customers=customers, days=DAYS, seed=7, end=END, progress=True)
    for kind in ("events", "responses", "identities", "customers"):
        export_table(url, kind, folder / "parquet")
    done.touch()
    return folder


# Columns that hold an id of a customer, visitor, cart, order, event or answer: a copy of a shop
# gets them with a suffix, so each copy is a shop of new people with the same behaviour.
ID_COLUMNS = ("id", "event_id", "customer_id", "visitor_id", "cart_id", "order_id", "response_id")
COPIED_TABLES = ("customers", "identities", "journey_events", "responses")


def replicate(source: Path, folder: Path, copies: int) -> None:
    """``copies`` times the shop in ``source`` under new ids: SQLite and the Parquet export.

    Writing a million customers with the generator takes about two hours on two cores; ten
    copies of the 100,000-customer shop take minutes and load the engines the same way per
    customer (each copy's people are distinct people with the same kinds of journeys). The
    risk scale sees ties between copies, which costs neither engine anything.
    """
    import sqlite3

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    done = folder / ".complete"
    if done.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    print(f"writing {copies} copies of {source.name} into {folder} (once) ...", flush=True)
    target = folder / "kundresa.db"
    with sqlite3.connect(source / "kundresa.db") as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    with sqlite3.connect(target, isolation_level=None) as db:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-2000000")
        db.execute("ATTACH DATABASE ? AS src", (str(source / "kundresa.db"),))
        indexes = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join('?' * len(COPIED_TABLES))})",
            COPIED_TABLES,
        ).fetchall()
        for name, _ in indexes:
            db.execute(f'DROP INDEX "{name}"')
        for table in COPIED_TABLES:
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            for copy in range(1, copies):
                chosen = ", ".join(f"{c} || '~{copy}'" if c in ID_COLUMNS else c for c in columns)
                db.execute(f"INSERT INTO main.{table} SELECT {chosen} FROM src.{table}")
                print(f"  {table}: copy {copy + 1} of {copies}", flush=True)
        for name, sql in indexes:
            db.execute(sql)
            print(f"  index {name}", flush=True)
    for file in sorted((source / "parquet").rglob("*.parquet")):
        relative = file.relative_to(source / "parquet")
        table = pq.read_table(file)
        (folder / "parquet" / relative.parent).mkdir(parents=True, exist_ok=True)
        for copy in range(copies):
            copied = table
            if copy:
                for name in ID_COLUMNS:
                    if name in copied.column_names:
                        column = copied[name]
                        suffixed = pc.binary_join_element_wise(
                            column, pa.scalar(f"~{copy}", column.type), ""
                        )
                        copied = copied.set_column(copied.column_names.index(name), name, suffixed)
            pq.write_table(copied, folder / "parquet" / relative.parent / f"copy{copy}-{file.name}")
    done.touch()


def _clear_scores(database: Path) -> None:
    import sqlite3

    with sqlite3.connect(database) as conn:
        conn.execute("DELETE FROM risk_scores")


def train_models(workdir: Path, env: dict[str, str]) -> None:
    """Champions of both tasks, trained once on a small shop of the same generator."""
    marker = workdir / ".models"
    if marker.exists():
        return
    folder = prepare(workdir, TRAIN_CUSTOMERS)
    train_env = {**env, "DATABASE_URL": f"sqlite:///{folder / 'kundresa.db'}"}
    for task in ("brand_switch", "cart_abandonment"):
        # The first version of a task becomes its champion when it beats the baselines.
        subprocess.run(
            [sys.executable, "-m", "kundresa", "train", "--task", task], env=train_env, check=True
        )
    marker.touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, action="append")
    parser.add_argument("--task", default="brand_switch")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench-scale")
    parser.add_argument("--engines", nargs="+", default=["local", "spark"])
    parser.add_argument("--limit-gib", type=float, default=8.0)
    parser.add_argument("--command", choices=("score", "train"), default="score")
    parser.add_argument(
        "--copies-of",
        type=int,
        metavar="N",
        help="write a larger size as copies of the N-customer shop under new ids (minutes, not hours)",
    )
    args = parser.parse_args()
    sizes = args.customers or [100_000, 1_000_000]
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_ROOT": (workdir / "mlartifacts").as_uri(),
        "KUNDRESA_VAR_DIR": str(workdir / "var"),
        "PYTHONPATH": str(ROOT),
    }
    if args.command == "score":
        train_models(workdir, env)
    limit = int(args.limit_gib * GIB)
    results = {}
    for size in sizes:
        base = args.copies_of
        if base and size > base and size % base == 0:
            folder = workdir / f"shop-{size}"
            replicate(prepare(workdir, base), folder, size // base)
        else:
            folder = prepare(workdir, size)
        for engine in args.engines:
            # Each engine scores the shop's own database, emptied of earlier scores first: a copy
            # per engine would cost 30 GB of disk at a million customers.
            database = folder / "kundresa.db"
            _clear_scores(database)
            if args.command == "train":
                command = [
                    sys.executable,
                    "-m",
                    "kundresa",
                    "train",
                    "--task",
                    args.task,
                    "--quiet",
                ]
            else:
                command = [
                    sys.executable, "-m", "kundresa", "score", "--task", args.task,
                    "--as-of", END.strftime("%Y-%m-%d"), "--no-progress",
                ]  # fmt: skip
            if engine == "spark":
                command += ["--engine", "spark", "--master", "local[2]"]
                command += ["--source", str(folder / "parquet")]
            log = workdir / f"{args.command}-{size}-{engine}.log"
            env_db = {**env, "DATABASE_URL": f"sqlite:///{database}"}
            found = run_measured(command, env_db, limit, log)
            results[size, engine] = found
            state = "over the limit" if found["over"] else ("ok" if found["ok"] else "FAILED")
            # A stopped or failed run scored nobody: no rate for it.
            rate = f"{size / found['seconds']:8,.0f}" if found["ok"] else f"{'-':>8}"
            print(
                f"{size:>9,} customers  {engine:<5}  {found['seconds']:7.1f} s  "
                f"driver {found['driver'] / GIB:5.2f} GiB  JVM {found['java'] / GIB:5.2f} GiB  "
                f"tree {found['tree'] / GIB:5.2f} GiB  {rate} customers/s  {state}",
                flush=True,
            )
            if not found["ok"] and not found["over"]:
                print("    " + "\n    ".join(found["tail"]))
            print(f"    its output: {log}", flush=True)
        found = [results.get((size, engine)) for engine in ("local", "spark")]
        if all(f and f["ok"] for f in found):
            local, spark = found
            print(
                f"{size:>9,} customers  spark/local: time {spark['seconds'] / local['seconds']:.2f}, "
                f"driver memory {spark['driver'] / max(local['driver'], 1):.2f}, "
                f"tree memory {spark['tree'] / max(local['tree'], 1):.2f}"
            )


if __name__ == "__main__":
    main()
