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
#: A quoted piece of the key this long or longer is masked too (a server or a proxy may
#: echo a truncated key); shorter runs are too likely to be ordinary text.
MIN_PREFIX = 16


def redact(text: str, secret: str | None = None) -> str:
    """``text`` with every ``key=<value>`` and the secret masked.

    The secret is masked in any case (``ABC`` for ``abc``), URL-quoted or not, and so is
    every run of :data:`MIN_PREFIX` or more of its characters (a prefix, a suffix, a piece).
    """
    if secret and len(secret) >= _MIN_LITERAL:
        for form in {secret, quote(secret, safe="")}:
            text = _mask_pieces(text, form)
    return _KEY_PARAM.sub(r"\g<1>" + MASK, text)


def _mask_pieces(text: str, secret: str) -> str:
    low_text, low_secret = text.lower(), secret.lower()
    if len(secret) < MIN_PREFIX:
        return re.sub(re.escape(secret), MASK, text, flags=re.IGNORECASE)
    windows = {low_secret[i:i + MIN_PREFIX] for i in range(len(low_secret) - MIN_PREFIX + 1)}
    out: list[str] = []
    start = i = 0
    limit = len(low_text) - MIN_PREFIX
    while i <= limit:
        if low_text[i:i + MIN_PREFIX] not in windows:
            i += 1
            continue
        end = i + MIN_PREFIX
        while end < len(low_text) and low_text[i:end + 1] in low_secret:
            end += 1
        out += [text[start:i], MASK]
        start = i = end
    out.append(text[start:])
    return "".join(out)


def display_url(base_url: str, endpoint: str, params: Mapping[str, Any] | None = None) -> str:
    """The URL of a Keepa call as we print it: the key shown as ``key=***``."""
    query = urlencode([(k, v) for k, v in (params or {}).items()], safe=",")
    sep = "&" if query else ""
    return f"{base_url}/{endpoint}?{query}{sep}key={MASK}"
