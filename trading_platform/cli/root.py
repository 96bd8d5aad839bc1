"""The root ``trading-platform`` group: its global ``--database-url`` option, and the one
place where operator errors become a single line.

Every error an operator can cause (a bad file, a bad parameter, an unknown bot) ends as one
line ``Error: <field>: <problem>`` on stderr and exit status 1, never a traceback; a
traceback means a bug in the platform.
"""

from __future__ import annotations

from typing import Any

import click
import sqlalchemy

from trading_platform.cli.backtest import backtest
from trading_platform.cli.bots import bots
from trading_platform.cli.common import PlatformError
from trading_platform.cli.credentials import credentials
from trading_platform.cli.database import db
from trading_platform.cli.launch import demo, run
from trading_platform.cli.strategies import strategies
from trading_platform.db.engine import database_url as default_database_url
from trading_platform.errors import ConfigError
from trading_platform.feeds.files import DataError

OPERATOR_ERRORS = (ConfigError, DataError)


class PlatformGroup(click.Group):
    """Turns operator errors raised anywhere below into one ``Error: ...`` line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OPERATOR_ERRORS as exc:
            raise PlatformError(str(exc)) from None
        except sqlalchemy.exc.OperationalError as exc:
            url = ctx.params.get("database_url") or default_database_url()
            shown = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
            if "no such table" in str(exc) or "does not exist" in str(exc):
                raise PlatformError(
                    f"the bot database {shown} has no platform tables: run "
                    "`trading-platform db upgrade`, or point TRADING_HOME (default "
                    "~/.trading_platform, as `make run` uses) or TRADING_DATABASE_URL at the "
                    "platform's database"
                ) from None
            raise PlatformError(f"the bot database {shown} failed: {exc.orig}") from None


@click.group(cls=PlatformGroup)
@click.option(
    "--database-url",
    envvar="TRADING_DATABASE_URL",
    default=None,
    help="Bot database (default: SQLite under TRADING_HOME). Env: TRADING_DATABASE_URL.",
)
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """Run backtrader trading bots under Dagster, configured by rows of `trading_bots`."""
    ctx.ensure_object(dict)
    ctx.obj["database_url"] = database_url or default_database_url()


for _command in (db, bots, credentials, strategies, backtest, demo, run):
    cli.add_command(_command)


def main() -> None:
    """Console entry point."""
    cli(prog_name="trading-platform")
