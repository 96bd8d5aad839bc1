"""Failures a bot run reports in a particular way."""

from __future__ import annotations


class FatalBotError(RuntimeError):
    """A failure a restart cannot fix (missing or rejected credentials): the orchestrator
    must not relaunch the bot until its config changes."""
