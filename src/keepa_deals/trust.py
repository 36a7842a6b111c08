"""A seller's trust score: how sure we are that its ratings are good, 0-100.

The score is the lower bound of the Wilson score interval (95 %) of the share
of positive ratings: a seller with few ratings gets the benefit of little
doubt, so 5 ratings of 100 % (score 56.6) do not beat 5,000 of 98 % (97.6).
No ratings at all is no evidence: the score is 0.  Pure arithmetic, no I/O.
"""

from __future__ import annotations

import math

#: The normal quantile of a two-sided 95 % interval.
Z95 = 1.959963984540054


def trust_score(rating_percent: float | None, rating_count: int | None, *,
                z: float = Z95) -> float | None:
    """The Wilson lower bound of ``rating_percent`` % positive over ``rating_count``
    ratings, in percent (rounded to 0.1); None when Keepa gave neither."""
    if rating_percent is None or rating_count is None:
        return None
    n = max(0, int(rating_count))
    if n == 0:
        return 0.0
    p = min(100.0, max(0.0, float(rating_percent))) / 100.0
    z2 = z * z
    centre = p + z2 / (2 * n)
    margin = z * math.sqrt((p * (1 - p) + z2 / (4 * n)) / n)
    low = (centre - margin) / (1 + z2 / n)
    return round(max(0.0, low) * 100, 1)


__all__ = ["Z95", "trust_score"]
