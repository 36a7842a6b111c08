"""The stage evaluators are pure: a paid reply in, a frozen StageResult out, nothing touched.

The embedded run and Celery mode's batch task book the same result (the
end-to-end tests prove both runs); here, that an evaluator neither changes
the candidates it is given nor needs a ledger, a report or a store, and that
the booking of a result in the ledger and the report is what it says.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest

from keepa_deals.ingest.ledger import Candidate, Ledger
from keepa_deals.ingest.report import IngestReport
from keepa_deals.ingest.stages import (
    MALFORMED,
    Rejection,
    StageResult,
    check_offers,
    check_stats,
    recheck,
)
from keepa_deals.keepa.products import ProductBatch
from keepa_deals.query import default_query

NOW_MS = 1_800_000_000_000


def _cands() -> list[Candidate]:
    return [Candidate("B000000001", 7_000_000, "stats", NOW_MS, {"title": "one"}),
            Candidate("B000000002", 7_000_001, "stats", NOW_MS, None)]


def test_a_product_check_of_a_reply_without_the_products_rejects_them_as_not_found() -> None:
    cands = _cands()
    before = copy.deepcopy(cands)
    reply = ProductBatch(products=(), status=None, malformed=(("B000000002", "bad stats"),
                                                              (None, "no asin")))
    result = check_stats(cands, reply, default_query(), NOW_MS)
    assert cands == before  # the evaluator changed nothing it was given
    assert result.kind == "stats" and result.asins == ("B000000001", "B000000002")
    assert result.finished == ("B000000001", "B000000002")
    assert result.rejections == (Rejection("B000000001", "not found"),
                                 Rejection("B000000002", MALFORMED))
    assert result.malformed == (Rejection("B000000002", "bad stats"), Rejection("", "no asin"))
    assert not result.rows and not result.survivors and not result.retire
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.rows = ()  # type: ignore[misc]


def test_offers_and_rechecks_of_products_keepa_did_not_return_leave_stored_deals_alone() -> None:
    q = default_query()
    stored = Candidate("B000000003", None, "offers", NOW_MS, None, refresh=True)
    empty = ProductBatch(products=(), status=None)
    offers = check_offers([stored, *_cands()], empty, q, NOW_MS)
    assert offers.finished == ("B000000003", "B000000001", "B000000002")
    assert not offers.retire and not offers.recheck_failures  # not returned: not judged
    assert [r.reason for r in offers.rejections] == ["not found", "not found"]
    again = recheck(["B000000003"], empty, q, NOW_MS)
    assert again == StageResult("refresh", ("B000000003",))


def test_a_result_is_booked_in_the_ledger_and_the_report() -> None:
    ledger = Ledger(candidates={c.asin: c for c in _cands()})
    survivor = dataclasses.replace(ledger.candidates["B000000002"], stage="offers")
    fresh = Candidate("B000000009", None, "offers", NOW_MS, None, refresh=True)
    result = StageResult("stats", ("B000000001", "B000000002"), finished=("B000000001",),
                         survivors=(survivor, fresh),
                         rejections=(Rejection("B000000001", "rank too high"),),
                         recheck_failures=(Rejection("B000000009", "no live offer"),))
    report = IngestReport("q")
    result.apply_to(ledger)
    result.count_into(report)
    assert ledger.candidates["B000000001"].stage == "done"
    assert ledger.candidates["B000000002"].stage == "offers"
    assert ledger.candidates["B000000009"].refresh
    assert report.checked_stats == 2 and report.counts.rejected == 1
    assert report.reasons == {"rank too high": 1, "re-check: no live offer": 1}
    assert result.changes(watermark=5).watermark == 5
