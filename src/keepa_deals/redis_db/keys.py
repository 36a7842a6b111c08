"""Every Redis key keepa-deals writes, named in one place.

Keys are namespaced by a fingerprint of the Keepa API key (the first 16 hex
digits of its SHA-256), never the key itself, and carry one ``{hash tag}`` so
that all keys of one API key live in the same Redis Cluster slot and a Lua
script may touch any of them::

    keepa-deals:{<fp>}:budget          hash of the budget's scalar fields
    keepa-deals:{<fp>}:leases          hash lease id -> "cost_mt:expires_ms"
    keepa-deals:{<fp>}:budget-marker   the budget's marker (no TTL: see budget.state)
    keepa-deals:{<fp>}:lock:<name>     an ingest lock
    keepa-deals:{<fp>}:health:<name>   a health key
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from pydantic import SecretStr

if TYPE_CHECKING:
    from keepa_deals.settings import Settings

PREFIX = "keepa-deals"
FINGERPRINT_LEN = 16

_FINGERPRINT = re.compile(rf"[0-9a-f]{{{FINGERPRINT_LEN}}}")
#: a name part: lower-case words joined by ".", "_" or "-", no ":" and no braces
_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
#: longer parts are refused: a 64-character Keepa key must never become a key name
MAX_PART_LEN = 40


def fingerprint(api_key: str | SecretStr) -> str:
    """The namespace of an API key: 16 hex digits of its SHA-256, never the key."""
    text = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:FINGERPRINT_LEN]


def settings_fingerprint(settings: Settings) -> str:
    """The namespace of the configured key; without a key, the namespace of the empty key."""
    return fingerprint(settings.keepa_api_key or "")


class KeyBuilder:
    """Names the Redis keys of one API key (given by its fingerprint)."""

    __slots__ = ("fingerprint", "base")

    def __init__(self, fp: str) -> None:
        if not isinstance(fp, str) or not _FINGERPRINT.fullmatch(fp):
            # never echo the value: a caller may have passed the key itself
            raise ValueError(
                f"a key fingerprint is {FINGERPRINT_LEN} lower-case hex digits "
                "(keys.fingerprint(api_key)), never the API key itself"
            )
        self.fingerprint = fp
        self.base = f"{PREFIX}:{{{fp}}}"

    def __repr__(self) -> str:
        return f"KeyBuilder({self.fingerprint!r})"

    @property
    def hash_tag(self) -> str:
        return f"{{{self.fingerprint}}}"

    @property
    def budget(self) -> str:
        return self._key("budget")

    @property
    def leases(self) -> str:
        return self._key("leases")

    @property
    def budget_marker(self) -> str:
        return self._key("budget-marker")

    @property
    def budget_keys(self) -> tuple[str, str, str]:
        """The keys every budget script takes, in KEYS order."""
        return (self.budget, self.leases, self.budget_marker)

    def lock(self, name: str) -> str:
        return self._key("lock", name)

    def health(self, name: str) -> str:
        return self._key("health", name)

    @property
    def pattern(self) -> str:
        """A SCAN pattern matching every key of this API key."""
        return f"{PREFIX}:{{{self.fingerprint}}}:*".replace("{", "\\{").replace("}", "\\}")

    def _key(self, *parts: str) -> str:
        for part in parts:
            if not isinstance(part, str) or len(part) > MAX_PART_LEN or not _NAME.fullmatch(part):
                # never echo the part: it may be a secret passed by mistake
                raise ValueError(
                    f"invalid Redis key name part: use up to {MAX_PART_LEN} lower-case "
                    "letters and digits joined by . _ -"
                )
        return ":".join((self.base, *parts))
