"""The Dagster layer: resources, the reconciling sensor, the bot_run job, and Definitions.

Nothing here trades: every file calls into the engine, the database layer or the notifier.
Modules here do not use ``from __future__ import annotations``: Dagster reads the config
and resource annotations at definition time.
"""
