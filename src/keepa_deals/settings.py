"""One settings object for the whole system.

Every setting is read from the environment (or a ``.env`` file in the working
directory).  The four plain names ``KEEPA_API_KEY``, ``KEEPA_API_URL``,
``REDIS_URL`` and ``DATABASE_URL`` mean what they say; everything else is
prefixed ``KEEPA_DEALS_``.  Each field is documented in ``docs/settings.md``;
a test fails when one is not.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from keepa_deals.errors import ConfigError

if TYPE_CHECKING:
    from keepa_deals.query import DealQuery

DEFAULT_API_URL = "https://api.keepa.com"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: Settings whose value is never printed, not even when it is rejected: secrets, and URLs,
#: which may carry a password.
SECRET_FIELDS = frozenset({"keepa_api_key", "web_token", "redis_url", "database_url",
                           "celery_broker_url", "alert_urls"})
_KEY_RE = re.compile(r"[a-z0-9]{64}")


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "keepa-deals"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEEPA_DEALS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- the plain names -------------------------------------------------
    keepa_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KEEPA_API_KEY", "keepa_api_key")
    )
    keepa_api_url: str = Field(
        default=DEFAULT_API_URL, validation_alias=AliasChoices("KEEPA_API_URL", "keepa_api_url")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "redis_url")
    )
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "database_url")
    )

    # --- local files -----------------------------------------------------
    data_dir: Path = Field(default_factory=_default_data_dir)

    # --- the Keepa client ------------------------------------------------
    http_timeout_s: float = Field(default=30.0, gt=0)
    http_retries: int = Field(default=4, ge=0, le=10)

    # --- the token budget -----------------------------------------------
    budget_floor: int = Field(default=-180, le=0)
    budget_min_balance: int = Field(default=1, ge=1)
    budget_max_wait_s: float = Field(default=60.0, ge=0)
    budget_lease_ttl_s: float = Field(default=120.0, gt=0)
    budget_sync_interval_s: float = Field(default=60.0, gt=0)
    budget_anchor_max_age_s: float = Field(default=600.0, gt=0)
    budget_burst_minutes: float = Field(default=1.0, gt=0)

    # --- ingestion and the janitor (docs/ingest.md) ---------------------
    ingest_interval_s: float = Field(default=300.0, gt=0)
    ingest_max_pages: int = Field(default=3, ge=1, le=67)
    ingest_lock_ttl_s: float = Field(default=120.0, ge=1)
    ingest_refresh_after_h: float = Field(default=24.0, gt=0)
    ingest_pending_max_age_h: float = Field(default=24.0, gt=0)
    save_patience_s: float = Field(default=300.0, ge=0)
    janitor_grace_h: float = Field(default=72.0, gt=0)
    janitor_interval_s: float = Field(default=10800.0, gt=0)
    janitor_healthy_intervals: int = Field(default=3, ge=1)

    # --- Celery mode: many workers, one budget (docs/deploy.md) ---------
    queries: Annotated[list[str], NoDecode] = Field(default_factory=list)
    celery_broker_url: str | None = None
    celery_visibility_timeout_s: float = Field(default=3600.0, ge=60)
    celery_task_max_wait_s: float = Field(default=10.0, ge=0)
    celery_claim_ttl_s: float = Field(default=60.0, ge=1)
    celery_redispatch_after_s: float = Field(default=900.0, gt=0)
    celery_max_batch: int = Field(default=100, ge=1, le=100)

    # --- logging ---------------------------------------------------------
    log_level: str = "INFO"
    log_format: str = Field(default="console", pattern="^(console|json)$")

    # --- health, doctor and metrics (docs/operations.md) ----------------
    health_stall_intervals: int = Field(default=3, ge=1)
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    doctor_deal_drop_percent: float = Field(default=5.0, gt=0, le=100)
    doctor_yield_drop: float = Field(default=0.5, gt=0, lt=1)
    doctor_clock_skew_s: float = Field(default=10.0, gt=0)
    doctor_lock_max_age_s: float = Field(default=3600.0, gt=0)

    # --- alerts (docs/alerts.md) -------------------------------------------
    #: Apprise URLs that receive the health alerts (secrets: shown masked everywhere).
    alert_urls: Annotated[list[str], NoDecode] = Field(default_factory=list, repr=False)
    alert_repeat_h: float = Field(default=6.0, gt=0)
    alert_grace_s: float = Field(default=300.0, ge=0)
    alert_check_interval_s: float = Field(default=60.0, gt=0)
    alert_retry_s: float = Field(default=30.0, gt=0)
    alert_max_attempts: int = Field(default=12, ge=1)
    alert_lease_s: float = Field(default=120.0, gt=0)
    alert_drain_budget_s: float = Field(default=30.0, gt=0)
    alert_timeout_s: float = Field(default=10.0, gt=0)
    alert_digest_size: int = Field(default=10, ge=1, le=100)

    # --- the dashboard (docs/dashboard.md) --------------------------------
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=0, le=65535)
    web_token: SecretStr | None = None

    @field_validator("keepa_api_url")
    @classmethod
    def _strip_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        try:
            host = urlsplit(v).hostname
            urlsplit(v).port  # noqa: B018  (raises for a port that is not a number)
        except ValueError as exc:
            raise ValueError(f"is not a valid URL ({exc})") from None
        if not host:
            raise ValueError("names no host")
        return v

    @field_validator("redis_url", "celery_broker_url")
    @classmethod
    def _check_redis_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip()
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return v

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, v: str) -> str:
        level = v.strip().upper()
        if level == "WARN":
            level = "WARNING"
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("queries", "alert_urls", mode="before")
    @classmethod
    def _split_list(cls, v: object) -> object:
        # KEEPA_DEALS_QUERIES=a.toml,b.toml, KEEPA_DEALS_ALERT_URLS=json://host/hook,mailto://...
        # (commas or new lines)
        if isinstance(v, str):
            return [part.strip() for part in re.split(r"[,\n]", v) if part.strip()]
        return v

    @field_validator("keepa_api_key")
    @classmethod
    def _strip_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        s = v.get_secret_value().strip()
        return SecretStr(s) if s else None

    @field_validator("web_token")
    @classmethod
    def _check_web_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        s = v.get_secret_value().strip()
        if not s:
            return None
        if len(s) < 12:
            raise ValueError("must be at least 12 characters")
        return SecretStr(s)

    @cached_property
    def sqlite_path(self) -> Path:
        return self.data_dir / "keepa-deals.sqlite3"

    def effective_database_url(self) -> str:
        """``DATABASE_URL`` when set, else the embedded SQLite file under ``data_dir``."""
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    def query_specs(self) -> list[str]:
        """The effective ``KEEPA_DEALS_QUERIES``: as set, else the built-in default query."""
        from keepa_deals.query.load import DEFAULT_QUERY

        return list(self.queries) or [DEFAULT_QUERY]

    def require_api_key(self) -> str:
        """The access key, or ConfigError when it is unset or malformed (before any network)."""
        if self.keepa_api_key is None:
            raise ConfigError(
                "KEEPA_API_KEY is not set: put your Keepa access key in the environment "
                "or in .env (or point KEEPA_API_URL at a sandbox and use its key)"
            )
        key = self.keepa_api_key.get_secret_value()
        problem = key_problem(key)
        if problem:
            raise ConfigError(f"KEEPA_API_KEY is malformed: {problem}")
        return key

    def deployment_id(self) -> str:
        """A short, stable fingerprint of this deployment (its database and Redis), for
        per-deployment local files; it never contains a URL or a password in clear."""
        parts = (self.effective_database_url(), self.redis_url or "",
                 self.celery_broker_url or "")
        return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:12]

    def value_sources(self) -> dict[str, str]:
        """Where each field's value came from: ``env``, ``.env`` or ``default``."""
        names = self.env_names()
        environ = {k.upper() for k in os.environ}
        dotenv = {k.upper() for k in _dotenv_names(self.model_config.get("env_file"))}
        out: dict[str, str] = {}
        for field, env in names.items():
            if field in self.model_fields_set and env not in environ and env not in dotenv:
                out[field] = "argument"
            elif env in environ:
                out[field] = "env"
            elif env in dotenv:
                out[field] = ".env"
            else:
                out[field] = "default"
        return out

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Map each field to the environment variable that sets it."""
        names: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                names[name] = str(alias.choices[0])
            else:
                names[name] = (cls.model_config.get("env_prefix", "") + name).upper()
        return names


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be a Keepa access key (64 lower-case letters and digits), or None.

    The message never quotes the key."""
    if _KEY_RE.fullmatch(key):
        return None
    if len(key) != 64:
        return (f"a Keepa access key is 64 lower-case letters and digits; this one has "
                f"{len(key)} characters")
    return ("a Keepa access key is 64 lower-case letters and digits; this one has other "
            "characters (upper case, punctuation or spaces)")


def load_settings(**overrides: Any) -> Settings:
    """``Settings()``, with every problem as one ConfigError line naming the variables.

    A rejected value is quoted only for settings that are neither secrets nor URLs."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> str:
    """One line for pydantic's errors: ``invalid settings: NAME: problem; NAME: problem``."""
    names = Settings.env_names()
    by_alias = {alias.upper(): field for field, alias in names.items()}
    problems = []
    for error in exc.errors(include_url=False, include_input=True):
        loc = error.get("loc") or ("?",)
        raw = str(loc[0])
        field = raw if raw in names else by_alias.get(raw.upper(), raw)
        env = names.get(field, raw.upper())
        problems.append(f"{env} {_problem_text(error, secret=field in SECRET_FIELDS)}")
    return "invalid settings: " + "; ".join(problems)


_FRIENDLY = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "string_pattern_mismatch": "is not one of the allowed values",
    "missing": "is required",
}


def _problem_text(error: Mapping[str, Any], *, secret: bool) -> str:
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind == "value_error":
        text = str(ctx.get("error", error.get("msg", "is invalid")))
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "more than", "greater_than_equal": "at least",
                 "less_than": "less than", "less_than_equal": "at most"}[kind]
        bound = next(iter(ctx.values()))
        text = f"must be {words} {bound:g}" if isinstance(bound, float) else \
            f"must be {words} {bound}"
    elif kind == "string_pattern_mismatch" and "pattern" in ctx:
        choices = re.findall(r"\w+", str(ctx["pattern"]))
        text = f"must be one of {', '.join(choices)}"
    else:
        text = _FRIENDLY.get(kind) or str(error.get("msg", "is invalid")).lower()
    value = error.get("input")
    if not secret and isinstance(value, str | int | float) and not isinstance(value, bool):
        shown = str(value)
        text += f" (got {shown[:60]!r})"
    return text


def _dotenv_names(env_file: object) -> Sequence[str]:
    if not isinstance(env_file, str | Path):
        return ()
    path = Path(env_file)
    if not path.is_file():
        return ()
    from dotenv import dotenv_values

    return [k for k in dotenv_values(path) if k]


def resolve_queries(settings: Settings, spec: str | None = None) -> list[DealQuery]:
    """The queries a command ingests: ``spec`` (``--query``) when given, else every query of
    ``KEEPA_DEALS_QUERIES`` (files or built-in names; the built-in default when unset).

    The one resolver of the effective queries, for ``run``, ``ingest --once``, ``serve`` and
    Celery mode alike.  Raises ConfigError (a QueryFileError names the file and the field)
    for a query that cannot be read, and for two queries of the same name (each query has
    its own watermark and lock)."""
    from keepa_deals.query import resolve_query

    specs = [spec] if spec else settings.query_specs()
    queries = [resolve_query(s) for s in specs]
    names = [q.name for q in queries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(
            f"KEEPA_DEALS_QUERIES names the query {', '.join(twice)} more than once: each "
            "query has its own watermark and lock, so names must be unique")
    return queries
