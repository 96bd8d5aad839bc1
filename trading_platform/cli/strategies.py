"""``trading-platform strategies``: what an operator may put in a bot's ``strategy`` and
``config.params`` columns, read from the same registry the sensor validates with."""

from __future__ import annotations

import json
from pathlib import Path

import click

from trading_platform.cli.common import warn_unloaded
from trading_platform.cli.render import info_json, print_strategies
from trading_platform.strategy_handler import load_registry


@click.group()
def strategies() -> None:
    """List the strategy plugins and their parameters.

    A bot's `strategy` column names one of these, and its `config.params` may set the listed
    parameters within their bounds.  Plugins come from the repository's `strategies/`,
    TRADING_STRATEGY_PATHS and --strategy-path.
    """


@strategies.command("list")
@click.option(
    "--strategy-path",
    multiple=True,
    type=click.Path(path_type=Path),
    help="extra plugin directory (also TRADING_STRATEGY_PATHS)",
)
@click.option("--json", "as_json", is_flag=True)
def strategies_list(strategy_path: tuple[Path, ...], as_json: bool) -> None:
    """Registered strategies with their parameters, defaults and bounds."""
    registry, report = load_registry(strategy_path)
    infos = registry.list()
    warn_unloaded(report)
    if as_json:
        click.echo(json.dumps([info_json(info) for info in infos], indent=2, default=str))
        return
    print_strategies(infos)
