"""Resources the sensors, the jobs and the assets declare as typed parameters.

Each field is one runtime setting; ``definitions.py`` feeds it from its environment variable
with ``EnvVar`` (see ``environment.py``), and its default is what the README documents for an
unset variable.  Dagster builds a new resource object for every run and every sensor tick.
"""

import functools
import os
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy import Engine

from trading_platform.db.engine import cached_engine, database_url
from trading_platform.db.retention import (
    DEFAULT_AUDIT_RETENTION_DAYS,
    DEFAULT_RETENTION_DAYS,
    Retention,
)
from trading_platform.engine.activity import DEFAULT_SUMMARY_SECONDS
from trading_platform.engine.output import OutputLimits
from trading_platform.notifications.senders import EmailSender, TelegramSender
from trading_platform.orchestration.reconcile import Policy
from trading_platform.strategy_handler import StrategyRegistry, load_registry


class BotDatabase(ConfigurableResource):
    """The bot database."""

    url: str | None = Field(
        default=None,
        description="TRADING_DATABASE_URL (may hold a password); unset: SQLite under TRADING_HOME",
    )

    def engine(self) -> Engine:
        return cached_engine(self.url or database_url())


#: a sensor tick has 60 s (Dagster's gRPC timeout); the poll leaves room for the handling
MAX_TELEGRAM_POLL_SECONDS = 30


def _number(text: str, variable: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{variable}: expected a number, found {text!r}") from None


def _whole(text: str, variable: str, unit: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{variable}: expected a whole number of {unit}, found {text!r}") from None


class PlatformSettings(ConfigurableResource):
    """Plugin paths, the restart policy and the notification retry backoff.

    The numbers are text: a Dagster config float cannot be fed by an ``EnvVar``, and these
    settings take fractions (``TRADING_RESTART_BACKOFF_SECONDS=0.5``)."""

    strategy_paths: str = Field(
        default="", description="TRADING_STRATEGY_PATHS: plugin directories, separated by ':'"
    )
    restart_backoff_seconds: str = Field(
        default="10", description="TRADING_RESTART_BACKOFF_SECONDS: first restart delay"
    )
    restart_backoff_max_seconds: str = Field(
        default="300", description="TRADING_RESTART_BACKOFF_MAX_SECONDS: longest restart delay"
    )
    stale_heartbeat_factor: str = Field(
        default="3",
        description="TRADING_STALE_HEARTBEAT_FACTOR: a run whose heartbeat is older than this "
        "many heartbeat intervals is presumed hung and restarted",
    )
    notification_backoff_seconds: str = Field(
        default="5",
        description="TRADING_NOTIFICATION_BACKOFF_SECONDS: first retry delay of a message",
    )
    notification_backoff_max_seconds: str = Field(
        default="600",
        description="TRADING_NOTIFICATION_BACKOFF_MAX_SECONDS: longest retry delay of a message",
    )
    activity_summary_seconds: str = Field(
        default=str(int(DEFAULT_SUMMARY_SECONDS)),
        description="TRADING_ACTIVITY_SUMMARY_SECONDS: how often a running bot writes a "
        "summary of what it did to its run's event log",
    )

    telegram_poll_seconds: str = Field(
        default="3",
        description="TRADING_TELEGRAM_POLL_SECONDS: how long each telegram_commands_sensor "
        "tick long-polls Telegram for commands (0..30)",
    )

    run_retention_days: str = Field(
        default=str(DEFAULT_RETENTION_DAYS),
        description="TRADING_RUN_RETENTION_DAYS: purge_old_runs deletes finished runs, sent "
        "notifications, ended commands and fine-grained snapshots older than this (0: keep all)",
    )
    audit_retention_days: str = Field(
        default=str(DEFAULT_AUDIT_RETENTION_DAYS),
        description="TRADING_AUDIT_RETENTION_DAYS: purge_old_runs deletes bot_status_events "
        "(the audit trail) older than this (0: keep all)",
    )

    bot_log_bytes: str = Field(
        default=str(OutputLimits.file_bytes),
        description="TRADING_BOT_LOG_BYTES: size of a bot's log file "
        "($TRADING_HOME/logs/bot-<id>.log) before it is rotated (3 old files are kept)",
    )

    def output_limits(self) -> OutputLimits:
        return OutputLimits(file_bytes=_whole(self.bot_log_bytes, "TRADING_BOT_LOG_BYTES", "bytes"))

    def retention(self) -> Retention:
        return Retention(
            days=_whole(self.run_retention_days, "TRADING_RUN_RETENTION_DAYS", "days"),
            audit_days=_whole(self.audit_retention_days, "TRADING_AUDIT_RETENTION_DAYS", "days"),
        )

    def telegram_poll(self) -> float:
        seconds = _number(self.telegram_poll_seconds, "TRADING_TELEGRAM_POLL_SECONDS")
        if not 0 <= seconds <= MAX_TELEGRAM_POLL_SECONDS:
            raise ValueError(
                f"TRADING_TELEGRAM_POLL_SECONDS: expected 0 to {MAX_TELEGRAM_POLL_SECONDS} "
                f"seconds (a sensor tick must end well within Dagster's 60 s), found {seconds:g}"
            )
        return seconds

    def policy(self) -> Policy:
        return Policy(
            backoff_seconds=_number(
                self.restart_backoff_seconds, "TRADING_RESTART_BACKOFF_SECONDS"
            ),
            backoff_max_seconds=_number(
                self.restart_backoff_max_seconds, "TRADING_RESTART_BACKOFF_MAX_SECONDS"
            ),
            stale_heartbeat_factor=_number(
                self.stale_heartbeat_factor, "TRADING_STALE_HEARTBEAT_FACTOR"
            ),
        )

    def activity_summary(self) -> float:
        seconds = _number(self.activity_summary_seconds, "TRADING_ACTIVITY_SUMMARY_SECONDS")
        if seconds <= 0:
            raise ValueError(
                f"TRADING_ACTIVITY_SUMMARY_SECONDS: expected a positive number, found {seconds:g}"
            )
        return seconds

    def notification_backoff(self) -> tuple[float, float]:
        """The first and the longest retry delay of a message."""
        return (
            _number(self.notification_backoff_seconds, "TRADING_NOTIFICATION_BACKOFF_SECONDS"),
            _number(
                self.notification_backoff_max_seconds, "TRADING_NOTIFICATION_BACKOFF_MAX_SECONDS"
            ),
        )

    def registry(self) -> StrategyRegistry:
        paths = [Path(p) for p in self.strategy_paths.split(os.pathsep) if p]
        registry, _report = load_registry(tuple(paths))
        return registry


# Dagster builds the resource objects anew for every tick; the senders they hand out are
# built once per process and setting (the settings cannot change while a process lives).
_telegram_sender = functools.lru_cache(maxsize=4)(TelegramSender.from_settings)
_email_sender = functools.lru_cache(maxsize=4)(EmailSender.from_settings)


class TelegramResource(ConfigurableResource):
    """Telegram through python-telegram-bot; off without a token."""

    bot_token: str = Field(default="", description="TELEGRAM_BOT_TOKEN (secret)")
    api_base_url: str = Field(
        default=TelegramSender.base_url,
        description="TELEGRAM_API_BASE_URL, e.g. a local Bot API server (http://host:port/bot)",
    )

    def sender(self) -> TelegramSender | None:
        return _telegram_sender(self.bot_token, self.api_base_url)


class EmailResource(ConfigurableResource):
    """E-mail through SMTP; off without a host."""

    host: str = Field(default="", description="SMTP_HOST")
    port: int = Field(default=587, description="SMTP_PORT")
    user: str = Field(default="", description="SMTP_USER")
    password: str = Field(default="", description="SMTP_PASSWORD (secret)")
    from_address: str = Field(default=EmailSender.sender, description="SMTP_FROM")
    tls: str | None = Field(
        default=None, description="SMTP_TLS: starttls (default with a user), ssl or none"
    )

    def sender(self) -> EmailSender | None:
        return _email_sender(
            self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            sender=self.from_address,
            tls=self.tls,
        )
