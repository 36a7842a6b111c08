"""The root ``keepa-deals`` command group; each verb lives in its own module."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, NoReturn

import click

from keepa_deals import __version__
from keepa_deals.settings import Settings, load_settings


class AppContext:
    """Lazily built settings shared by every verb."""

    def __init__(self) -> None:
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()  # ConfigError: one line, no secret
        return self._settings

    def secret_key(self) -> str | None:
        """The key of the settings already read (to mask it in a message), else None."""
        s = self._settings
        return s.keepa_api_key.get_secret_value() if s and s.keepa_api_key else None


class _Verbs(click.Group):
    """The root group: a bad command line, or an error of ours that a verb did not catch, is
    one line on stderr and exit 2."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:  # an option of the root command
            click.echo(f"error: {exc.format_message()} (see `{info_name or 'keepa-deals'} "
                       "--help`)", err=True)
            sys.exit(2)

    def invoke(self, ctx: click.Context) -> Any:
        from keepa_deals.errors import KeepaDealsError

        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a bad command line: one line, not click's usage block
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            click.echo(f"error: {exc.format_message()} (see `{where} --help`)", err=True)
            ctx.exit(2)
        except KeepaDealsError as exc:
            fail(str(exc))


@click.group(cls=_Verbs, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keepa-deals")
@click.pass_context
def app(ctx: click.Context) -> None:
    """Keep a database of Amazon deals fresh from the Keepa API."""
    ctx.ensure_object(AppContext)


pass_app = click.make_pass_decorator(AppContext, ensure=True)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def clock(at: datetime | None) -> str:
    """A time as a terminal line shows it: local ``HH:MM:SS``, or a dash."""
    return at.astimezone().strftime("%H:%M:%S") if at else "—"


def fail(message: str, code: int = 2) -> NoReturn:
    """One ``error:`` line, the key masked in it wherever it came from, and exit ``code``."""
    from keepa_deals.keepa.redact import redact

    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(AppContext) if ctx is not None else None
    key = obj.secret_key() if obj is not None else None
    click.echo(f"error: {redact(message, key)}", err=True)
    sys.exit(code)


def cannot_listen(what: str, host: str, port: int, exc: OSError) -> str:
    """The one line for a port we cannot bind (busy, or not ours to take)."""
    return (f"cannot serve {what} on {host}:{port}: {exc.strerror or exc} "
            "(choose another port, or stop what listens there)")
