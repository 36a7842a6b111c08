"""Admin endpoints under ``/_sandbox/``: state, counters, accounts, faults, clock.

For tests and benchmarks that run the sandbox in another process.  Accounts
are named by their key's fingerprint (:func:`.accounts.fingerprint`); a key
is only ever sent in, to create an account, never returned.

====================================  =================================================
``GET    /_sandbox/state``            clock, every account with its counters, faults,
                                      catalog summary
``GET    /_sandbox/accounts``         every account
``POST   /_sandbox/accounts``         create or replace: ``{"key", "tokens",
                                      "refill_rate", "token_flow_reduction", "phase_ms",
                                      "cap", "floor", "expired"}`` (201)
``GET    /_sandbox/accounts/{fp}``    one account
``PATCH  /_sandbox/accounts/{fp}``    change some of the fields above (not the key);
                                      ``null`` cap or floor restores the default
``DELETE /_sandbox/accounts/{fp}``    remove it (204)
``GET    /_sandbox/faults``           the fault configuration and what was injected
``PUT    /_sandbox/faults``           replace it (a :class:`.faults.FaultConfig` object)
``DELETE /_sandbox/faults``           no faults (204)
``POST   /_sandbox/clock``            ``{"advance_ms": n}``: only on a fake clock (409
                                      otherwise)
====================================  =================================================
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keepa_deals.sandbox.accounts import fingerprint, is_well_formed_key
from keepa_deals.sandbox.faults import FaultConfig
from keepa_deals.sandbox.sandbox import DEMO_RATE, Sandbox, UnknownAccount


class AccountChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: int | None = None
    refill_rate: int | None = Field(default=None, ge=0)
    token_flow_reduction: float | None = Field(default=None, ge=0)
    phase_ms: int | None = Field(default=None, ge=0, lt=60_000)
    cap: int | None = None
    floor: int | None = None
    expired: bool | None = None


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    tokens: int
    refill_rate: int = Field(default=DEMO_RATE, ge=0)
    token_flow_reduction: float = Field(default=0.0, ge=0)
    phase_ms: int | None = Field(default=None, ge=0, lt=60_000)
    cap: int | None = None
    floor: int | None = None
    expired: bool = False


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _describe(exc: ValidationError) -> str:
    """The validation errors without the input (which may hold a key)."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False)
    )


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError:
        return None


def _sandbox(request: Request) -> Sandbox:
    sb: Sandbox = request.app.state.sandbox
    return sb


def admin_routes() -> list[Route]:
    async def state(request: Request) -> Response:
        sb = _sandbox(request)
        return JSONResponse(sb.state())

    async def list_accounts(request: Request) -> Response:
        sb = _sandbox(request)
        return JSONResponse([a.as_dict() for a in sb.all_accounts()])

    async def create_account(request: Request) -> Response:
        sb = _sandbox(request)
        try:
            spec = AccountCreate.model_validate(await _json(request))
        except ValidationError as exc:
            return _problem(422, _describe(exc))
        if not is_well_formed_key(spec.key):
            return _problem(422, "key must be 64 characters of [a-z0-9]")
        fields = spec.model_dump(exclude={"key"})
        st = sb.add_account(spec.key, **fields)
        return JSONResponse(st.as_dict(), status_code=201,
                            headers={"location": f"/_sandbox/accounts/{fingerprint(spec.key)}"})

    async def one_account(request: Request) -> Response:
        sb = _sandbox(request)
        fp = request.path_params["fp"]
        try:
            if request.method == "GET":
                return JSONResponse(sb.account_by_fingerprint(fp).as_dict())
            if request.method == "DELETE":
                sb.remove_account_by_fingerprint(fp)
                return Response(status_code=204)
            try:
                change = AccountChange.model_validate(await _json(request))
            except ValidationError as exc:
                return _problem(422, _describe(exc))
            st = sb.update_account_by_fingerprint(fp, **change.model_dump(exclude_unset=True))
            return JSONResponse(st.as_dict())
        except UnknownAccount:
            return _problem(404, f"no account {fp}")

    async def purchases(request: Request) -> Response:
        sb = _sandbox(request)
        try:
            return JSONResponse({"purchases": sb.purchase_log_by_fingerprint(
                request.path_params["fp"])})
        except UnknownAccount:
            return _problem(404, f"no account {request.path_params['fp']}")

    async def faults(request: Request) -> Response:
        sb = _sandbox(request)
        if request.method == "PUT":
            try:
                sb.set_faults(FaultConfig.model_validate(await _json(request)))
            except ValidationError as exc:
                return _problem(422, _describe(exc))
        elif request.method == "DELETE":
            sb.clear_faults()
            return Response(status_code=204)
        return JSONResponse(sb.faults.as_dict())

    async def clock(request: Request) -> Response:
        sb = _sandbox(request)
        body = await _json(request)
        advance = getattr(sb.clock, "advance", None)
        if advance is None:
            return _problem(409, "the sandbox runs on the system clock; only a fake clock can advance")
        if not isinstance(body, dict) or not isinstance(body.get("advance_ms"), int) or body["advance_ms"] < 0:
            return _problem(422, "send {\"advance_ms\": <non-negative integer>}")
        return JSONResponse({"now_ms": advance(body["advance_ms"])})

    return [
        Route("/_sandbox/state", state, methods=["GET"]),
        Route("/_sandbox/accounts", list_accounts, methods=["GET"]),
        Route("/_sandbox/accounts", create_account, methods=["POST"]),
        Route("/_sandbox/accounts/{fp}", one_account, methods=["GET", "PATCH", "DELETE"]),
        Route("/_sandbox/accounts/{fp}/purchases", purchases, methods=["GET"]),
        Route("/_sandbox/faults", faults, methods=["GET", "PUT", "DELETE"]),
        Route("/_sandbox/clock", clock, methods=["POST"]),
    ]
