"""Trading bots as ordinary Dagster citizens.

The package is split into rooms with one job each: ``db`` (the database contract),
``strategy_handler`` (strategy registry and composable strategies), ``engine`` (building and
running a backtrader Cerebro for one bot, with no Dagster in it), ``metrics`` (pure
performance figures), ``exchanges``, ``notifications`` and ``orchestration`` (the thin Dagster
layer).  ``trading_platform.definitions`` is what ``workspace.yaml`` loads.
"""

__version__ = "0.1.0"
