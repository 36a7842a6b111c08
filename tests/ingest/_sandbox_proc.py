"""A sandbox Keepa server in its own process, logging which ASINs each request asked for.

    python -m tests.ingest._sandbox_proc --log requests.jsonl [--latency-ms 600]

Prints its URL on the first line of stdout once it listens.  The sandbox runs
on a fake clock that never moves (the feed stays put between two ingest
processes), with the ingest tests' catalog and account.  Each /deal and
/product request is logged as a JSON line when it arrives (``start``: id,
endpoint, ASINs, offers, page) and when its reply has been sent (``end``: id,
status); the key is never logged.  The admin endpoints (``/_sandbox/...``) work
as usual, e.g. to change the latency.
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
import sys
from typing import Any
from urllib.parse import parse_qs

import uvicorn

from keepa_deals.clock import FakeClock
from keepa_deals.sandbox import CatalogConfig, FaultConfig, Sandbox, create_sandbox_app
from tests.ingest.conftest import KEY, START_MS

Scope = dict[str, Any]


class RequestLog:
    """ASGI middleware appending a line per request start and end to ``path``."""

    def __init__(self, app: Any, path: str) -> None:
        self.app = app
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        self.ids = itertools.count(1)

    def write(self, entry: dict[str, Any]) -> None:
        self.file.write(json.dumps(entry) + "\n")
        self.file.flush()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        endpoint = scope.get("path", "").strip("/") if scope["type"] == "http" else ""
        if endpoint not in ("deal", "product"):
            await self.app(scope, receive, send)
            return
        qs = parse_qs(scope.get("query_string", b"").decode())
        rid = next(self.ids)
        self.write({"t": "start", "id": rid, "endpoint": endpoint,
                    "asins": qs["asin"][0].split(",") if "asin" in qs else [],
                    "offers": int(qs["offers"][0]) if "offers" in qs else None})
        status: dict[str, int] = {}

        async def logged_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.write({"t": "end", "id": rid, "status": status.get("code")})

        await self.app(scope, receive, logged_send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()
    sandbox = Sandbox(clock=FakeClock(START_MS), demo_account=False,
                      catalog=CatalogConfig(seed=4, backlog_s=3 * 3600))
    sandbox.add_account(KEY, tokens=1200, refill_rate=20, phase_ms=7_000)
    if args.latency_ms:
        sandbox.set_faults(FaultConfig(latency_ms=(args.latency_ms, args.latency_ms),
                                       endpoints=("product",)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(RequestLog(create_sandbox_app(sandbox), args.log), log_config=None,
                            log_level="warning", access_log=False, lifespan="off")
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
