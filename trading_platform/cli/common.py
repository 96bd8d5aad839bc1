"""What several command modules need: the operator-error type, the consoles, and the
lookups of a bot and the database.

It lives apart from :mod:`.root` because the root imports every command module; a command
importing the root back would be an import cycle.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from sqlalchemy import Engine

from trading_platform.db import make_engine
from trading_platform.db.bots import BotRow, find_bot
from trading_platform.strategy_handler import DiscoveryReport

console = Console()
err_console = Console(stderr=True)


class PlatformError(click.ClickException):
    """An operator error: printed as one line, exit status 1."""


def json_option(value: str | None, field: str) -> dict[str, Any] | None:
    """Parse a JSON-object option here, so a typo names the option instead of a config path."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise PlatformError(f"{field}: malformed JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(parsed, dict):
        raise PlatformError(f"{field}: expected a JSON object, found {type(parsed).__name__}")
    return parsed


def open_engine(ctx: click.Context) -> Engine:
    """The engine of the database chosen by the root's ``--database-url``."""
    return make_engine(ctx.obj["database_url"])


def find_row(ctx: click.Context, bot: str) -> BotRow:
    """A bot by id or name, or the operator error an unknown reference deserves."""
    row = find_bot(open_engine(ctx), bot)
    if row is None:
        raise PlatformError(f"bot: no bot with id or name {bot!r}")
    return row


def warn_unloaded(report: DiscoveryReport) -> None:
    """A broken plugin file is a warning, not an error: the other strategies still work."""
    for path, problem in report.errors.items():
        err_console.print(f"[yellow]warning[/]: could not load {path}: {problem}", soft_wrap=True)
