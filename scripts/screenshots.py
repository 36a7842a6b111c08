"""The dashboard's screenshots in docs/img: a deal's history chart and the health page.

Fills a temporary store with real ingest runs against the sandbox Keepa server (on a
fake clock: a run every 20 minutes for six hours, the last hour and a half short of tokens,
and a two-hour janitor grace, so that the deal count falls while the runs wait), serves the
dashboard with uvicorn, and takes the pictures with headless Chromium (Playwright).

    .venv/bin/python scripts/screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from keepa_deals.clock import FakeClock
from keepa_deals.ingest import open_env, smart_ingestor
from keepa_deals.janitor import run_janitor
from keepa_deals.query import default_query
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer
from keepa_deals.settings import Settings
from keepa_deals.web import create_app
from keepa_deals.web.server import WebServer

KEY = "screenshotkey" + "3" * 51
START_MS = 1_800_000_000_000
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    clock = FakeClock(START_MS)
    sandbox = Sandbox(clock=clock, demo_account=False,
                      catalog=CatalogConfig(seed=11, backlog_s=12 * 3600, event_interval_s=8))
    sandbox.add_account(KEY, tokens=300, refill_rate=5, phase_ms=7_000)
    with tempfile.TemporaryDirectory() as data, SandboxServer(sandbox) as keepa:
        settings = Settings(keepa_api_key=KEY, keepa_api_url=keepa.url, data_dir=Path(data),
                            database_url=f"sqlite:///{data}/deals.sqlite3", http_retries=1,
                            janitor_grace_h=2.0)
        with open_env(settings, clock=clock) as env:
            for i in range(18):
                if i == 14:  # the balance was spent elsewhere: the last runs wait for tokens
                    sandbox.update_account(KEY, tokens=-1500)
                smart_ingestor(env, default_query())
                run_janitor(env.store, settings)
                clock.advance(20 * 60 * 1000)
            stored = [k.asin for k in env.store.deals_to_refresh(20)]
            app = create_app(settings, engine=env.store.engine, budget=env.budget, clock=clock)
            with WebServer(app) as web, sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(web.url + "/health?hours=6")
                page.locator("#chart-deals .chart-host[data-points]").wait_for()
                page.screenshot(path=str(args.out / "health.png"), full_page=True)
                asin = max(stored, key=lambda a: len(httpx.get(
                    f"{web.url}/api/deals/{a}/history").json()["series"]))
                page.set_viewport_size({"width": 1200, "height": 2000})  # the chart in view
                page.goto(f"{web.url}/deals/{asin}")
                figure = page.locator("section.history")
                page.locator(".history-chart .chart-prices[data-points]").wait_for()
                page.click(".history-ranges button[data-days='365']")
                over = page.locator(".history-chart .chart-prices .u-over")
                over.scroll_into_view_if_needed()
                box = over.bounding_box()
                assert box is not None
                for share in (0.6, 0.62):  # uPlot follows the mouse: move, then move again
                    page.mouse.move(box["x"] + box["width"] * share, box["y"] + box["height"] / 2)
                page.wait_for_function("""() => Array.from(document.querySelectorAll(
                    '.chart-prices .u-legend .u-value')).some(e => e.textContent.startsWith('$'))""")
                clip = figure.bounding_box()  # the page as it is (an element shot moves it)
                assert clip is not None
                page.screenshot(path=str(args.out / "deal-history.png"), clip=clip)
                browser.close()
    for name in ("health.png", "deal-history.png"):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
