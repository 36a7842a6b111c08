"""Imports every verb module so that each registers itself on ``app``."""

from keepa_deals.cli import (
    alerts_cmd,  # noqa: F401
    categories_cmd,  # noqa: F401
    celery_cmd,  # noqa: F401
    db_cmd,  # noqa: F401
    deals_cmd,  # noqa: F401
    doctor_cmd,  # noqa: F401
    health_cmd,  # noqa: F401
    ingest_cmd,  # noqa: F401
    janitor_cmd,  # noqa: F401
    run_cmd,  # noqa: F401
    sandbox_cmd,  # noqa: F401
    serve_cmd,  # noqa: F401
    settings_cmd,  # noqa: F401
    status_cmd,  # noqa: F401
    tokens_cmd,  # noqa: F401
)
