"""The Celery app of Celery mode: many workers on many hosts, one token budget.

::

    celery -A keepa_deals.celery_app beat                  # exactly one per deployment
    celery -A keepa_deals.celery_app worker --concurrency 4   # as many as the plan needs

(or ``keepa-deals beat`` / ``keepa-deals worker``).  Everything is configured
from the settings (``REDIS_URL``, ``DATABASE_URL``, ``KEEPA_DEALS_QUERIES``
...); see docs/deploy.md.  Importing this module without ``REDIS_URL`` or
``DATABASE_URL`` raises :class:`~keepa_deals.fanout.config.CeleryModeError`
saying what to set.
"""

from keepa_deals.fanout.app import make_celery_app

app = make_celery_app()
