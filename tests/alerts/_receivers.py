"""Real receivers for alert messages: an HTTP server for ``json://``, an SMTP server for
``mailto://``.  Each records what arrived; the HTTP one can answer errors first, or be
slow, to test retries and crashes mid-send."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MESSAGE_ID = re.compile(r"id: ([0-9a-f]{32})")


class WebhookReceiver:
    """``json://127.0.0.1:PORT/hook`` posts land in ``received`` (body and headers)."""

    def __init__(self, *, fail_first: int = 0, status: int = 500, delay_s: float = 0.0) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.fail_first = fail_first
        self.status = status
        self.delay_s = delay_s
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                with receiver._lock:
                    failing = receiver.fail_first > 0
                    if failing:
                        receiver.fail_first -= 1
                    code = receiver.status if failing else 200
                    receiver.answers.append(code)
                    if not failing:
                        receiver.received.append({
                            "path": self.path, "body": json.loads(raw or b"{}"),
                            "headers": {k.lower(): v for k, v in self.headers.items()}})
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ids(self) -> list[str]:
        """The message id of each message received (from its body)."""
        out = []
        for r in self.received:
            m = MESSAGE_ID.search(str(r["body"].get("message", "")))
            if m:
                out.append(m.group(1))
        return out

    def duplicates(self) -> int:
        return sum(n - 1 for n in Counter(self.ids()).values())

    def wait_for(self, n: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and len(self.received) < n:
            time.sleep(0.05)
        return list(self.received)


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, list[Any]]]:
    """A real SMTP server (aiosmtpd) on a free port: (port, the messages received)."""
    import socket

    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.append(envelope)
            return "250 Message accepted for delivery"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from aiosmtpd.smtp import AuthResult

    def accept(server: Any, session: Any, envelope: Any, mechanism: str, data: Any
               ) -> AuthResult:
        return AuthResult(success=True)

    controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                            authenticator=accept, auth_require_tls=False)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()
