"""Admin endpoints under /_sandbox/, as tests in another process would use them."""

from __future__ import annotations

import httpx

from keepa_deals.sandbox import DEMO_KEY, CatalogConfig, Sandbox, SandboxServer, fingerprint
from tests.sandbox.conftest import KEY, PHASE, START_MS

OTHER_KEY = "b" * 64


def test_state_names_accounts_by_fingerprint_never_by_key(client: httpx.Client, sandbox: Sandbox) -> None:
    client.get("/token", params={"key": KEY})
    r = client.get("/_sandbox/state")
    assert r.status_code == 200
    state = r.json()
    assert state["now_ms"] == START_MS
    fps = {a["fingerprint"] for a in state["accounts"]}
    assert fps == {fingerprint(KEY), fingerprint(DEMO_KEY)}
    assert KEY not in r.text and DEMO_KEY not in r.text
    mine = next(a for a in state["accounts"] if a["fingerprint"] == fingerprint(KEY))
    assert mine["tokens"] == 100 and mine["refill_rate"] == 5 and mine["phase_ms"] == PHASE
    assert mine["counters"]["requests"] == [{"endpoint": "token", "status": 200, "count": 1}]
    assert state["catalog"]["products"] == 3000 and state["catalog"]["events"] > 0
    assert state["faults"]["config"]["error_rates"] == {}


def test_create_modify_and_delete_an_account(client: httpx.Client, sandbox: Sandbox) -> None:
    r = client.post("/_sandbox/accounts", json={"key": OTHER_KEY, "tokens": 7, "refill_rate": 3, "phase_ms": 500})
    assert r.status_code == 201 and OTHER_KEY not in r.text
    fp = r.json()["fingerprint"]
    assert fp == fingerprint(OTHER_KEY) and r.headers["location"].endswith(fp)
    assert client.get("/token", params={"key": OTHER_KEY}).json()["tokensLeft"] == 7

    r = client.patch(f"/_sandbox/accounts/{fp}",
                     json={"tokens": -20, "refill_rate": 10, "token_flow_reduction": 1.5, "floor": -50})
    assert r.status_code == 200
    acc = sandbox.account(OTHER_KEY)
    assert (acc.tokens, acc.refill_rate, acc.token_flow_reduction, acc.floor) == (-20, 10, 1.5, -50)
    client.patch(f"/_sandbox/accounts/{fp}", json={"floor": None, "expired": True})
    assert sandbox.account(OTHER_KEY).floor is None
    assert client.get("/token", params={"key": OTHER_KEY}).status_code == 402
    assert client.get(f"/_sandbox/accounts/{fp}").json()["counters"]["requests"][-1]["status"] == 402

    assert client.delete(f"/_sandbox/accounts/{fp}").status_code == 204
    assert client.get(f"/_sandbox/accounts/{fp}").status_code == 404
    assert client.get("/token", params={"key": OTHER_KEY}).status_code == 402


def test_bad_admin_input_is_refused_without_echoing_keys(client: httpx.Client) -> None:
    r = client.post("/_sandbox/accounts", json={"key": "short", "tokens": 1})
    assert r.status_code == 422 and "short" not in r.text
    r = client.post("/_sandbox/accounts", json={"key": OTHER_KEY})
    assert r.status_code == 422 and OTHER_KEY not in r.text
    fp = fingerprint(KEY)
    assert client.patch(f"/_sandbox/accounts/{fp}", json={"key": OTHER_KEY}).status_code == 422
    assert client.patch(f"/_sandbox/accounts/{fp}", json={"phase_ms": 60_000}).status_code == 422
    assert client.patch("/_sandbox/accounts/000000000000", json={"tokens": 1}).status_code == 404


def test_faults_through_admin(client: httpx.Client, sandbox: Sandbox) -> None:
    r = client.put("/_sandbox/faults", json={"seed": 5, "error_rates": {"503": 1.0}, "limit": 1})
    assert r.status_code == 200 and r.json()["config"]["error_rates"] == {"503": 1.0}
    assert client.get("/token", params={"key": KEY}).status_code == 503
    assert client.get("/token", params={"key": KEY}).status_code == 200
    assert client.get("/_sandbox/faults").json()["injected"] == {"status_503": 1}
    assert client.put("/_sandbox/faults", json={"html_rate": 3}).status_code == 422
    assert client.delete("/_sandbox/faults").status_code == 204
    assert sandbox.faults.config.error_rates == {}


def test_clock_advances_only_when_fake(client: httpx.Client, sandbox: Sandbox) -> None:
    r = client.post("/_sandbox/clock", json={"advance_ms": PHASE})
    assert r.status_code == 200 and r.json()["now_ms"] == START_MS + PHASE
    assert client.get("/token", params={"key": KEY}).json()["tokensLeft"] == 105
    assert client.post("/_sandbox/clock", json={"advance_ms": -1}).status_code == 422


def test_clock_refuses_on_system_time(server: SandboxServer) -> None:
    server.sandbox = Sandbox(catalog=CatalogConfig(size=50))
    with httpx.Client(base_url=server.url) as c:
        assert c.post("/_sandbox/clock", json={"advance_ms": 1}).status_code == 409
        assert c.get("/token", params={"key": DEMO_KEY}).status_code == 200
