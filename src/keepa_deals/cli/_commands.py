"""Imports every verb module so that each registers itself on ``app``."""

from keepa_deals.cli import settings_cmd  # noqa: F401
from keepa_deals.cli import db_cmd  # noqa: F401
from keepa_deals.cli import sandbox_cmd  # noqa: F401
from keepa_deals.cli import tokens_cmd  # noqa: F401
from keepa_deals.cli import status_cmd  # noqa: F401
from keepa_deals.cli import doctor_cmd  # noqa: F401
from keepa_deals.cli import health_cmd  # noqa: F401
from keepa_deals.cli import ingest_cmd  # noqa: F401
from keepa_deals.cli import janitor_cmd  # noqa: F401
from keepa_deals.cli import run_cmd  # noqa: F401
from keepa_deals.cli import serve_cmd  # noqa: F401
from keepa_deals.cli import celery_cmd  # noqa: F401
