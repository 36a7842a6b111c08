"""Deals priced through the ingestor's own path (``evaluate.estimate`` and ``build_row``),
over varied inputs: fractional referral percents, missing fees (the defaults), missing
averages (the fallbacks), offers with and without shipping, three profit settings.

``expected(inputs)`` is an oracle written here, from docs/profit.md, not from the code
under test: a fee in percent rounded up to the cent, the sale price the first present
average of the window and its fallbacks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from keepa_deals.ingest import evaluate as ev
from keepa_deals.keepa.products import Offer, OfferCondition
from keepa_deals.query import DealQuery, default_query
from keepa_deals.query.model import ProfitConfig
from keepa_deals.store import DealRow

NOW = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


def queries() -> list[DealQuery]:
    """Three profit settings under names the deal definition has no thresholds for."""
    base = default_query()
    configs = [
        ("decide-a", ProfitConfig(prep_cents=25, inbound_shipping_cents=60)),
        ("decide-b", ProfitConfig(prep_cents=0, inbound_shipping_cents=0, closing_fee_cents=0,
                                  sale_price_window=30, sale_price_fallbacks=[90, 365])),
        ("decide-c", ProfitConfig(prep_cents=110, inbound_shipping_cents=85,
                                  closing_fee_cents=180, default_referral_percent=12.75,
                                  default_fba_fee_cents=411)),
    ]
    return [base.model_copy(update={"name": name, "profit": p}) for name, p in configs]


@dataclass(frozen=True)
class Inputs:
    asin: str
    query: DealQuery
    buy_item: int
    shipping: int | None
    averages: dict[int, int | None]
    referral_percent: float | None
    fba_fee: int | None
    monthly_sold: int | None
    drops_30: int | None


def _offer(price: int, shipping: int | None, condition: int) -> Offer:
    return Offer(offer_id=1, seller_id="A1", condition=condition, condition_comment=None,
                 price=price, shipping=shipping, last_seen=NOW, is_fba=False, is_prime=False,
                 is_amazon=False, is_prime_excl=False, is_warehouse_deal=False,
                 is_shippable=True, is_live=True, raw={})


def priced(n: int, seed: int = 5) -> tuple[list[tuple[str, DealRow]], dict[str, Inputs]]:
    """``n`` deals with a profit estimate: (query name, row), and each deal's inputs."""
    rnd = random.Random(seed)
    qs = queries()
    out: list[tuple[str, DealRow]] = []
    inputs: dict[str, Inputs] = {}
    i = 0
    while len(out) < n:
        i += 1
        q = qs[i % len(qs)]
        avg = rnd.randint(300, 90_000)
        averages: dict[int, int | None] = {
            w: (None if rnd.random() < 0.2 else max(1, avg + rnd.randint(-500, 500)))
            for w in (30, 90, 180, 365)}
        if rnd.random() < 0.05:
            averages = {w: None for w in averages}  # no average at all: no estimate
        inp = Inputs(
            asin=f"D{i:09d}", query=q, buy_item=rnd.randint(1, 60_000),
            shipping=rnd.choice([None, 0, 399, rnd.randint(1, 999)]),
            averages=averages,
            referral_percent=rnd.choice([None, 15.0, 8.0, 12.75, 7.35, 33.333, 0.0]),
            fba_fee=rnd.choice([None, 0, 306, rnd.randint(1, 2000)]),
            monthly_sold=rnd.choice([None, None, 50, rnd.randint(1, 3000)]),
            drops_30=rnd.choice([None, 0, rnd.randint(1, 60)]),
        )
        facts = ev.ProductFacts(
            sales_rank=rnd.randint(1, 2_000_000), rank_drops=(inp.drops_30, 9, 20, 40),
            offers_used=rnd.randint(0, 90), offers_new=rnd.randint(0, 20),
            offers_fba=rnd.randint(0, 10), offers_fbm=rnd.randint(0, 10),
            amazon_in_stock=rnd.random() < 0.3, referral_percent=inp.referral_percent,
            fba_fee_cents=inp.fba_fee, price_avgs=(avg, avg, avg, avg),
            sale_avgs=dict(averages), stats_price=inp.buy_item, interval_avg=avg,
            last_update=NOW, title=f"Deal {i}", root_category=283155,
            monthly_sold=inp.monthly_sold, price_changed_at=NOW - timedelta(hours=i % 200),
        )
        with_offer = rnd.random() < 0.6
        offer = (_offer(inp.buy_item, inp.shipping, rnd.choice(list(OfferCondition)[1:]))
                 if with_offer else None)
        buy = inp.buy_item + (inp.shipping or 0) if with_offer else inp.buy_item
        est = ev.estimate(facts, buy, q)
        if est is None:
            continue
        row = ev.build_row(inp.asin, q, facts, est, includes_shipping=with_offer, now=NOW,
                           offer=offer)
        out.append((q.name, row))
        inputs[inp.asin] = inp if with_offer else Inputs(**{**inp.__dict__, "shipping": None})
    return out, inputs


def expected(inp: Inputs) -> dict[str, Any]:
    """The breakdown docs/profit.md gives for these inputs."""
    p = inp.query.profit
    windows = [p.sale_price_window, *p.sale_price_fallbacks]
    window = next(w for w in windows if inp.averages.get(w))
    sale = inp.averages[window]
    assert sale is not None
    percent = inp.referral_percent if inp.referral_percent is not None \
        else p.default_referral_percent
    referral = int((Decimal(sale) * Decimal(str(percent)) / 100)
                   .to_integral_value(rounding=ROUND_CEILING))
    fba = inp.fba_fee if inp.fba_fee is not None else p.default_fba_fee_cents
    cost = inp.buy_item + (inp.shipping or 0) + p.prep_cents + p.inbound_shipping_cents
    fees = referral + p.closing_fee_cents + fba
    return {"sale_price_cents": sale, "window": window, "referral_fee_cents": referral,
            "fba_fee_cents": fba, "closing_fee_cents": p.closing_fee_cents,
            "cost_cents": cost, "fees_cents": fees, "profit_cents": sale - fees - cost}
