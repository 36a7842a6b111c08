"""``keepa-deals sandbox`` in a subprocess: it prints its URL and demo key, and serves."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from keepa_deals.sandbox import DEMO_KEY


def test_sandbox_verb_serves_on_real_time() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "keepa_deals", "sandbox", "--port", "0", "--json",
         "--tokens", "50", "--rate", "7", "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("}"):
                break
        info = json.loads("".join(lines))
        assert info["demo_key"] == DEMO_KEY and info["url"].startswith("http://127.0.0.1:")
        body = httpx.get(f"{info['url']}/token", params={"key": DEMO_KEY}, timeout=10).json()
        assert body["tokensLeft"] == 50 and body["refillRate"] == 7
        state = httpx.get(info["admin"], timeout=10).json()
        assert state["catalog"]["seed"] == 3
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert DEMO_KEY not in err  # no access log: URLs carry keys
