"""Research on historical bars: parameter search and walk-forward analysis.

Every backtest run here goes through :func:`~trading_platform.engine.backtest.run_backtest`,
the path of ``trading-platform backtest`` and of backtest bots, so a combination's figures
are the figures a single backtest with the same params gives.  Nothing here imports Dagster
or the CLI.
"""
