"""``trading-platform db``: the schema of the bot database, kept apart from the bot commands
because it is the one command that runs before any table exists."""

from __future__ import annotations

import click

from trading_platform.db.migrate import upgrade as upgrade_schema


@click.group()
def db() -> None:
    """Create or upgrade the bot database schema.

    Run `db upgrade` once on a new database before any `bots` command; `run` does it itself.
    """


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or upgrade the schema (idempotent)."""
    revision = upgrade_schema(ctx.obj["database_url"])
    click.echo(f"database at revision {revision}")
