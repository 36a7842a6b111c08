"""Keeping the access key out of every text we produce.

The key travels only as the ``key`` query parameter, added by the transport at
the last moment (see ``http.py``), so httpx's own request objects, log lines and
exceptions never hold it.  These helpers are the second line: every message
and URL we print or log goes through :func:`redact`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

MASK = "***"

# ``key=`` as a query parameter, in any case, up to the next separator.
_KEY_PARAM = re.compile(r"(?i)(?<![A-Za-z0-9_])(key=)[^&\s\"'<>#:;,()]*")

# Literal replacement of short secrets would mangle ordinary text.
_MIN_LITERAL = 8


def redact(text: str, secret: str | None = None) -> str:
    """``text`` with every ``key=<value>`` (and the secret itself) masked."""
    if secret and len(secret) >= _MIN_LITERAL:
        text = text.replace(secret, MASK)
        quoted = quote(secret, safe="")
        if quoted != secret:
            text = text.replace(quoted, MASK)
    return _KEY_PARAM.sub(r"\g<1>" + MASK, text)


def display_url(base_url: str, endpoint: str, params: Mapping[str, Any] | None = None) -> str:
    """The URL of a Keepa call as we print it: the key shown as ``key=***``."""
    query = urlencode([(k, v) for k, v in (params or {}).items()], safe=",")
    sep = "&" if query else ""
    return f"{base_url}/{endpoint}?{query}{sep}key={MASK}"
