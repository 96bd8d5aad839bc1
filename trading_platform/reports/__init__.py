"""Documents made from results (the backtest's HTML report); no trading logic, no Dagster.

Imported only by the commands that write a report: its chart library (plotly) is imported
inside the functions, so a bot's run worker never loads it.
"""
