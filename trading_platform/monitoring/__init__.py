"""Health and performance read from the bot database (no Dagster): what the assets show."""
