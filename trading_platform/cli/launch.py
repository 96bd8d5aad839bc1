"""``trading-platform run`` and ``demo``: start the whole platform, and seed the demo bots
it starts with.

Their imports (the demo data, ``os.execve`` of Dagster) are made inside the commands: the
other commands never need them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from trading_platform.cli.common import open_engine
from trading_platform.db import make_engine
from trading_platform.db.migrate import upgrade as upgrade_schema

#: the checkout that holds ``workspace.yaml`` and the default ``dagster_home``
REPO_ROOT = Path(__file__).resolve().parents[2]


@click.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Create the demo user and demo bots (skips those that exist)."""
    from trading_platform.demo import seed_demo

    created = seed_demo(open_engine(ctx))
    click.echo(
        f"demo bots created: {', '.join(created)}" if created else "demo bots already present"
    )


@click.command(short_help="Start the platform: migrate, seed the demo, run Dagster.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True)
@click.option("--no-demo", is_flag=True, help="do not seed the demo bots")
@click.pass_context
def run(ctx: click.Context, host: str, port: int, no_demo: bool) -> None:
    """Migrate, seed the demo, and start Dagster (UI, daemon, code server)."""
    import os

    from trading_platform.demo import seed_demo, write_demo_files

    url = ctx.obj["database_url"]
    click.echo(f"bot database: {url.split('@')[-1]}")
    click.echo(f"schema at revision {upgrade_schema(url)}")
    if not no_demo:
        created = seed_demo(make_engine(url))
        click.echo(f"demo bots created: {', '.join(created)}" if created else "demo bots present")
        click.echo(f"demo data: {write_demo_files()}")
    env = dict(os.environ)
    env.setdefault("DAGSTER_HOME", str(REPO_ROOT / "dagster_home"))
    env["TRADING_DATABASE_URL"] = url
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    click.echo(f"starting Dagster on http://{host}:{port} (DAGSTER_HOME={env['DAGSTER_HOME']})")
    dagster = Path(sys.executable).with_name("dagster")
    command = [
        str(dagster),
        "dev",
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
        "-h",
        host,
        "-p",
        str(port),
    ]
    os.execve(command[0], command, env)
