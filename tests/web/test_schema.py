"""Schemathesis against /api/openapi.json: generated requests never get a 5xx, and the
answers match the schema.  Bounded (a few examples per operation) to take seconds.

The app runs with an access token (the test client's Host is not a loopback name, which
only a token allows) and every generated request carries it.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from pydantic import SecretStr

from keepa_deals.budget import TokenManager
from keepa_deals.clock import FakeClock
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore
from keepa_deals.web import create_app
from tests.web._deals import seed

TOKEN = "schemathesis-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

@pytest.fixture
def web_schema(settings: Settings, store: DealStore, budget: TokenManager,
               clock: FakeClock) -> Any:
    seed(store, clock)
    locked = settings.model_copy(update={"web_token": SecretStr(TOKEN)})
    app = create_app(locked, engine=store.engine, budget=budget, clock=clock)
    return schemathesis.openapi.from_asgi("/api/openapi.json", app, headers=AUTH)


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_the_api_conforms_and_never_fails(web_schema: Any, mode: Any) -> None:
    """Every operation, a few generated cases each, valid (answered 2xx/404 and matching
    the schema) and invalid (refused with a 4xx): never a 5xx.  Schemathesis's hypothesis
    strategies are driven here, its pytest plugin's fixture loader does not run on this
    pytest."""
    operations = [result.ok() for result in web_schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/api/deals", "/api/deals/{asin}", "/api/health", "/api/series/tokens",
        "/api/series/deals", "/api/runs", "/api/categories"}
    for operation in operations:
        if mode is schemathesis.GenerationMode.NEGATIVE and not list(operation.iter_parameters()):
            continue  # nothing to get wrong (unknown parameters are tested in test_api_*)
        if mode is schemathesis.GenerationMode.POSITIVE and (
                operation.method.upper(), operation.path) == ("POST", "/api/searches"):
            continue  # the filter grammar is no JSON schema: tests/web/test_searches.py

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=12,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # A schema cannot say "max at least min": a 422 for an impossible range is the
            # one refusal of schema-valid data that is right, and the only one allowed.
            response = case.call_and_validate(
                headers=AUTH, excluded_checks=[schemathesis.checks.positive_data_acceptance])
            if mode is schemathesis.GenerationMode.POSITIVE:
                assert response.status_code != 422 or "is below" in response.text, \
                    response.text

        check()
