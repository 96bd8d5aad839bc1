"""Notifications: producers write to the ``notifications`` outbox and return at once; a
dispatcher sends pending messages through Telegram and e-mail with retries."""
