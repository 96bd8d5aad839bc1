"""Operators acting on bots (issue 12): who may act (:mod:`.operators`) and the actions
themselves (:mod:`.actions`), shared by the CLI and Telegram so both are authorised and
audited the same way.  No Dagster here: the sensor and the running bot do the rest from the
rows these actions write (``enabled``, ``paused``, ``reload_requests``, ``bot_commands``).
"""
