"""The scan ledger's storage: what is written with every commit reads back the same."""

from __future__ import annotations

import json

import pytest

from keepa_deals.ingest.ledger import Candidate, Ledger, LedgerError, Segment


def _ledger() -> Ledger:
    led = Ledger(segments=[Segment(100, 200, 37, 190)])
    led.add(Candidate("B000000001", 150, "stats", 1_700_000_000_000,
                      {"title": "Ünïcode “quotes” \u2028", "price": 1299, "pct": 12.5}))
    led.add(Candidate("B000000002", 151, "offers", 1_700_000_000_001, None))
    led.add(Candidate("B000000003", None, "offers", 1_700_000_000_002, None, refresh=True))
    led.add(Candidate("B000000004", 120, "done", 1_700_000_000_003))
    return led


def _same(a: Ledger, b: Ledger) -> None:
    assert a.segments == b.segments
    assert a.candidates.keys() == b.candidates.keys()
    for asin, c in a.candidates.items():
        other = b.candidates[asin]
        assert (c.last_update, c.stage, c.feed, c.refresh) == (
            other.last_update, other.stage, other.feed, other.refresh)
        if c.pending:  # a checked deal is kept only to be recognised by a rescan
            assert c.seen_ms == other.seen_ms


def test_a_ledger_reads_back_as_written() -> None:
    led = _ledger()
    text = led.dumps()
    _same(Ledger.loads(text), led)
    doc = json.loads(text)  # plain JSON: any reader can inspect it
    assert doc["v"] == 2 and doc["done"] == {"B000000004": 120}


def test_a_change_to_a_candidate_is_in_the_next_write() -> None:
    led = _ledger()
    led.dumps()
    led.advance(["B000000001"])
    led.finish(["B000000002", "B000000003"])
    back = Ledger.loads(led.dumps())
    assert back.candidates["B000000001"].stage == "offers"
    assert back.candidates["B000000002"].stage == "done"
    assert "B000000003" not in back.candidates  # a finished refresh is forgotten


def test_an_integer_beyond_64_bits_in_a_feed_view_is_still_written() -> None:
    led = Ledger()
    led.add(Candidate("B000000009", 1, "stats", 0, {"huge": 2**70}))
    assert Ledger.loads(led.dumps()).candidates["B000000009"].feed == {"huge": 2**70}


def test_the_previous_format_still_reads() -> None:
    v1 = ('{"v":1,"segments":[[100,200,37,190]],"candidates":{'
          '"B000000001":[150,"stats",5,{"t":"x","i":"https://m.media-amazon.com/images/I/a.jpg"},0],'
          '"B000000004":[120,"done",6,null,0]}}')
    led = Ledger.loads(v1)
    assert led.segments == [Segment(100, 200, 37, 190)]
    assert led.candidates["B000000001"].stage == "stats"
    assert led.candidates["B000000004"].stage == "done"
    assert led.knows("B000000004", 120) and not led.knows("B000000004", 121)
    _same(Ledger.loads(led.dumps()), led)


@pytest.mark.parametrize("text", ['{"v": 3}', "[]", "not json", '{"v":2,"done":{"B1":"x"}}',
                                  '{"v":2,"done":[]}',
                                  '{"v":1,"segments":[[1,2]],"candidates":{}}',
                                  '{"v":1,"segments":[],"candidates":{"B1":[1,"nope",0,null,0]}}'])
def test_an_unreadable_ledger_is_a_ledger_error(text: str) -> None:
    with pytest.raises(LedgerError):
        Ledger.loads(text)


def test_a_feed_view_keeps_its_image_as_a_file_name() -> None:
    from keepa_deals.ingest.evaluate import FeedView
    from keepa_deals.keepa.deals import IMAGE_BASE_URL

    view = FeedView("t", IMAGE_BASE_URL + "51Vx.jpg", 1, "Books", 100, 12.5, 7)
    assert view.to_json()["i"] == "51Vx.jpg"
    assert FeedView.from_json(view.to_json()) == view
    elsewhere = FeedView("t", "https://example.com/a.jpg", 1, "Books", 100, 12.5, 7)
    assert FeedView.from_json(elsewhere.to_json()) == elsewhere
    assert FeedView.from_json({"i": IMAGE_BASE_URL + "a.jpg"}).image_url == IMAGE_BASE_URL + "a.jpg"
