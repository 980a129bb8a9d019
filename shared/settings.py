"""One settings object for every service and command, read from environment variables.

Every setting has a safe local default, so nothing needs to be set to run on one machine:
the database is a SQLite file and MLflow a local store, both under ``var/``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in {"1", "true", "yes", "on"}


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _secret_key(var_dir: Path) -> str:
    """A secret from the environment, else one made once and kept in ``var/`` (never logged)."""
    from_env = os.environ.get("SECRET_KEY", "").strip()
    if from_env:
        return from_env
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    mlflow_tracking_uri: str
    mlflow_artifact_root: str
    redis_url: str | None
    secret_key: str = field(repr=False)
    demo_mode: bool = False
    # Public survey API limits.
    rate_limit_public: str = "120/minute"
    max_body_bytes: int = 1_000_000
    max_events_per_call: int = 500
    max_text_length: int = 2000
    # Behind this many reverse proxies, each adding X-Forwarded-For/-Proto/-Host, the client
    # address is the one the outermost proxy saw (rate limits per shopper, not per balancer).
    # 0 trusts no such header: set it to exactly the number of proxies, or clients can forge it.
    trusted_proxies: int = 0
    # Seconds a client is told to wait (Retry-After) while the database is unreachable.
    outage_retry_after_seconds: int = 5
    # Model service.
    model_poll_seconds: float = 10.0
    critical_flag_threshold: float = 0.0
    # Dashboard sign-in.
    session_cookie_secure: bool = False
    max_failed_logins: int = 5
    lockout_minutes: int = 15

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read settings from the environment; keyword overrides win (used by tests)."""
        var_dir = Path(_env("KUNDRESA_VAR_DIR", str(Path.cwd() / "var"))).resolve()
        values: dict[str, object] = {
            "var_dir": var_dir,
            "database_url": _env("DATABASE_URL", f"sqlite:///{var_dir / 'kundresa.db'}"),
            "mlflow_tracking_uri": _env(
                "MLFLOW_TRACKING_URI", f"sqlite:///{var_dir / 'mlflow.db'}"
            ),
            "mlflow_artifact_root": _env(
                "MLFLOW_ARTIFACT_ROOT", (var_dir / "mlartifacts").as_uri()
            ),
            "redis_url": os.environ.get("REDIS_URL", "").strip() or None,
            "demo_mode": _env_bool("KUNDRESA_DEMO", False),
            "rate_limit_public": _env("KUNDRESA_RATE_LIMIT_PUBLIC", cls.rate_limit_public),
            "max_body_bytes": _env_int("KUNDRESA_MAX_BODY_BYTES", cls.max_body_bytes),
            "trusted_proxies": _env_int("KUNDRESA_TRUSTED_PROXIES", cls.trusted_proxies),
            "outage_retry_after_seconds": _env_int(
                "KUNDRESA_OUTAGE_RETRY_AFTER_SECONDS", cls.outage_retry_after_seconds
            ),
            "model_poll_seconds": _env_float("KUNDRESA_MODEL_POLL_SECONDS", cls.model_poll_seconds),
            "critical_flag_threshold": _env_float(
                "KUNDRESA_CRITICAL_FLAG_THRESHOLD", cls.critical_flag_threshold
            ),
            "session_cookie_secure": _env_bool("KUNDRESA_SECURE_COOKIES", False),
        }
        values.update(overrides)
        if "secret_key" not in values:
            values["secret_key"] = _secret_key(Path(values["var_dir"]))
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return cls(**values)  # type: ignore[arg-type]
