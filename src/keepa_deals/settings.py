"""One settings object for the whole system.

Every setting is read from the environment (or a ``.env`` file in the working
directory).  The four plain names ``KEEPA_API_KEY``, ``KEEPA_API_URL``,
``REDIS_URL`` and ``DATABASE_URL`` mean what they say; everything else is
prefixed ``KEEPA_DEALS_``.  Each field is documented in ``docs/settings.md``;
a test fails when one is not.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_API_URL = "https://api.keepa.com"


def _default_data_dir() -> Path:
    import os

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

    # --- the dashboard (docs/dashboard.md) --------------------------------
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=0, le=65535)
    web_token: SecretStr | None = None

    @field_validator("keepa_api_url")
    @classmethod
    def _strip_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError("KEEPA_API_URL must start with http:// or https://")
        return v

    @field_validator("queries", mode="before")
    @classmethod
    def _split_queries(cls, v: object) -> object:
        if isinstance(v, str):  # KEEPA_DEALS_QUERIES=a.toml,b.toml (commas or new lines)
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
            raise ValueError("KEEPA_DEALS_WEB_TOKEN must be at least 12 characters")
        return SecretStr(s)

    @cached_property
    def sqlite_path(self) -> Path:
        return self.data_dir / "keepa-deals.sqlite3"

    def effective_database_url(self) -> str:
        """``DATABASE_URL`` when set, else the embedded SQLite file under ``data_dir``."""
        return self.database_url or f"sqlite:///{self.sqlite_path}"

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


def get_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
