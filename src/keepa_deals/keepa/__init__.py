"""Everything that speaks Keepa's API: values, token status, errors and the client.

Build the wire from settings with :func:`build_http`, and spend through
``KeepaClient(build_http(settings), budget)``; nothing else talks to Keepa.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keepa_deals.keepa.http import KeepaHTTP
    from keepa_deals.settings import Settings


def build_http(settings: Settings, **kwargs: Any) -> KeepaHTTP:
    """A ``KeepaHTTP`` for ``KEEPA_API_URL`` with the key, timeout and retries from settings.

    Raises ConfigError when ``KEEPA_API_KEY`` is not set.  ``kwargs`` go to
    ``KeepaHTTP`` (``sleep``, ``transport``, backoff bounds).
    """
    from keepa_deals.keepa.http import KeepaHTTP

    return KeepaHTTP.from_settings(settings, **kwargs)
