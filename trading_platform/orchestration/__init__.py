"""The Dagster layer: resources, the reconciling sensor, the bot_run job, and Definitions.

Nothing here trades: every file calls into the engine, the database layer or the notifier.
"""
