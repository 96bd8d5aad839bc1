"""Building and running a backtrader Cerebro for one bot. Knows nothing of Dagster."""
