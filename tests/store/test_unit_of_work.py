"""The deal store's unit of work: every write of one paid call commits together or not at all.

``DealStore.commit(query, Changes(...))`` and ``DealStore.unit_of_work(query)``
are the one way the application writes deals, retirements, the watermark and
state (the scan ledger, Celery's batch records): a failure anywhere inside
leaves nothing behind, the watermark only moves forward, and a re-check never
brings back a deal that was retired.
"""

from __future__ import annotations

import pytest

from keepa_deals.store import Changes, DealStore, InvalidDealRow
from tests.store._rows import asin, row

Q = "used-books-us"


def test_a_commit_writes_deals_retirements_watermark_and_state_together(
        store: DealStore) -> None:
    store.commit(Q, Changes(rows=(row(1), row(2))))
    done = store.commit(Q, Changes(rows=(row(3),), refreshed=(row(1, sales_rank=7),),
                                   retire=((asin(2), 1),), watermark=5_000_000,
                                   state={"ingest_ledger": "{}", "n": 3}))
    assert (done.added, done.updated, done.removed, done.watermark) == (1, 1, 1, 5_000_000)
    assert store.count_deals(Q) == 2
    assert store.get_deal(asin(2)) is None
    deal = store.get_deal(asin(1))
    assert deal is not None and deal.sales_rank == 7
    assert store.get_state(Q, "ingest_ledger") == "{}" and store.get_state(Q, "n") == 3


def test_a_bad_row_writes_nothing_at_all(store: DealStore) -> None:
    store.commit(Q, Changes(watermark=4_000_000, state={"ingest_ledger": "old"}))
    with pytest.raises(InvalidDealRow):
        store.commit(Q, Changes(rows=(row(1), row(2, sales_rank=-5)), watermark=5_000_000,
                                state={"ingest_ledger": "new"}))
    assert store.count_deals(Q) == 0
    wm = store.get_watermark(Q)
    assert wm is not None and wm.keepa_minute == 4_000_000
    assert store.get_state(Q, "ingest_ledger") == "old"


def test_the_watermark_only_moves_forward(store: DealStore) -> None:
    assert store.commit(Q, Changes(watermark=5_000_000)).watermark == 5_000_000
    assert store.commit(Q, Changes(watermark=4_000_000)).watermark == 5_000_000
    assert store.commit(Q, Changes()).watermark is None  # not touched: not read either


def test_a_recheck_never_brings_back_a_retired_deal(store: DealStore) -> None:
    store.commit(Q, Changes(rows=(row(1),)))
    store.commit(Q, Changes(retire=((asin(1), 1),)))
    done = store.commit(Q, Changes(refreshed=(row(1),)))
    assert (done.added, done.updated) == (0, 0)
    assert store.get_deal(asin(1)) is None


def test_the_verbs_of_one_unit_of_work_roll_back_together(store: DealStore) -> None:
    class Boom(RuntimeError):
        pass

    with pytest.raises(Boom), store.unit_of_work(Q) as work:
        work.save_deals([row(1)])
        work.set_state("fanout_batch:x", "{}")
        work.advance_watermark(5_000_000)
        raise Boom
    assert store.count_deals(Q) == 0
    assert store.get_watermark(Q) is None
    assert store.state_texts(Q, "fanout_batch:") == []


def test_state_texts_read_back_by_prefix_and_for_update(store: DealStore) -> None:
    store.commit(Q, Changes(state={"fanout_batch:b": "2", "fanout_batch:a": "1", "other": "x"}))
    assert store.state_texts(Q, "fanout_batch:") == [("fanout_batch:a", "1"),
                                                      ("fanout_batch:b", "2")]
    with store.unit_of_work(Q) as work:
        assert work.read_text("fanout_batch:a", for_update=True) == "1"
        assert work.delete_state(["fanout_batch:a", "fanout_batch:b"]) == 2
        assert work.read_text("fanout_batch:a") is None
    assert store.state_text(Q, "other") == "x"
