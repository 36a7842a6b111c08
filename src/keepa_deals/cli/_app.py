"""The root ``keepa-deals`` command group; each verb lives in its own module."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from keepa_deals import __version__
from keepa_deals.settings import Settings


class AppContext:
    """Lazily built settings shared by every verb."""

    def __init__(self) -> None:
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from pydantic import ValidationError

            from keepa_deals.errors import ConfigError

            try:
                self._settings = Settings()
            except ValidationError as exc:
                raise ConfigError(f"invalid settings: {exc}") from None
        return self._settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keepa-deals")
@click.pass_context
def app(ctx: click.Context) -> None:
    """Keep a database of Amazon deals fresh from the Keepa API."""
    ctx.ensure_object(AppContext)


pass_app = click.make_pass_decorator(AppContext, ensure=True)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)
