"""What a query's listed sources bought lately: each ASIN and when (epoch ms).

Written with every commit of a listed chunk (``system_state`` key
``ingest_listed``) and read at the start of a run, forgetting what is older
than the re-check window: a product seen by Product Finder, a best-seller
list or a list file is bought once per window, whatever its verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class ListedMemory:
    at: dict[str, int] = field(default_factory=dict)

    def bought(self, asin: str, now_ms: int) -> None:
        self.at[asin] = now_ms

    def bought_since(self, asin: str, since: datetime) -> bool:
        at = self.at.get(asin)
        return at is not None and at >= since.timestamp() * 1000

    def dumps(self, now_ms: int) -> str:
        return json.dumps(self.at, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None, *, keep_after_ms: int) -> ListedMemory:
        try:
            raw = json.loads(text) if text else {}
        except ValueError:
            raw = {}
        if not isinstance(raw, dict):
            raw = {}
        return cls({a: t for a, t in raw.items()
                    if isinstance(a, str) and type(t) is int and t >= keep_after_ms})


__all__ = ["ListedMemory"]
