-- Runs once, when the postgres service creates its data directory: the bot database beside
-- Dagster's (POSTGRES_DB). Both keep an alembic_version table, so they cannot share one.
CREATE DATABASE trading OWNER trader;
