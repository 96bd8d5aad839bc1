"""Settings reach the platform as resources fed by EnvVar: resolved when a run or a tick uses
them, defaults when a variable is unset, and secrets never in what Dagster shows."""

from __future__ import annotations

import uuid

import pytest
from dagster import DagsterInstance, Definitions, build_resources, build_sensor_context
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from trading_platform.contract import Channel
from trading_platform.definitions import platform_definitions, platform_resources
from trading_platform.notifications.dispatcher import dispatch_pending
from trading_platform.orchestration import notification_sensors

TOKEN = "123456:TOKEN-SECRET-Zq81"
SMTP_PASSWORD = "smtp-SECRET-x7Kp"
DB_PASSWORD = "db-SECRET-4hTw"
DB_URL = f"postgresql+psycopg2://trader:{DB_PASSWORD}@127.0.0.1:1/trading"


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dh").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dh")) as instance:
        yield instance


@pytest.fixture
def secrets(monkeypatch) -> None:
    monkeypatch.setenv("TRADING_DATABASE_URL", DB_URL)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_USER", "bots")
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)


def test_secrets_resolve_at_run_time_and_appear_nowhere_dagster_shows(secrets) -> None:
    defs = platform_definitions()
    Definitions.validate_loadable(defs)
    snapshot = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    for secret in (TOKEN, SMTP_PASSWORD, DB_PASSWORD):
        assert secret not in snapshot
    # what the UI shows instead: the variables' names
    for name in ("TRADING_DATABASE_URL", "TELEGRAM_BOT_TOKEN", "SMTP_PASSWORD"):
        assert name in snapshot
    with build_resources(platform_resources()) as resources:
        assert resources.bot_database.url == DB_URL
        assert resources.telegram.sender().token == TOKEN
        email = resources.email.sender()
        assert (email.user, email.password, email.tls) == ("bots", SMTP_PASSWORD, "starttls")


def test_a_run_reads_the_database_its_variable_names(
    secrets, monkeypatch, database_url, instance
) -> None:
    monkeypatch.setenv("TRADING_DATABASE_URL", database_url)  # TRADING_HOME has no database
    defs = platform_definitions()
    result = defs.resolve_job_def("bot_health_job").execute_in_process(instance=instance)
    assert result.success
    records = instance.get_run_records()
    stored = serialize_value([record.dagster_run for record in records])
    stored += serialize_value(instance.all_logs(result.run_id))
    assert TOKEN not in stored and SMTP_PASSWORD not in stored


def test_unset_variables_leave_the_documented_defaults() -> None:
    with build_resources(platform_resources()) as resources:
        settings = resources.platform_settings
        policy = settings.policy()
        assert (policy.backoff_seconds, policy.backoff_max_seconds) == (10.0, 300.0)
        assert policy.stale_heartbeat_factor == 3.0
        assert settings.notification_backoff() == (5.0, 600.0)
        assert settings.strategy_paths == ""
        assert resources.bot_database.url is None  # SQLite under TRADING_HOME
        assert resources.telegram.sender() is None  # off without a token
        assert resources.email.sender() is None  # off without SMTP_HOST


def test_set_variables_reach_the_settings(monkeypatch) -> None:
    monkeypatch.setenv("TRADING_RESTART_BACKOFF_SECONDS", "0.5")
    monkeypatch.setenv("TRADING_STALE_HEARTBEAT_FACTOR", "4")
    monkeypatch.setenv("TRADING_NOTIFICATION_BACKOFF_SECONDS", "1")
    monkeypatch.setenv("TRADING_NOTIFICATION_BACKOFF_MAX_SECONDS", "4")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:T")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9/bot")
    monkeypatch.setenv("SMTP_HOST", "mail.example.invalid")
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("SMTP_FROM", "bots@example.invalid")
    with build_resources(platform_resources()) as resources:
        policy = resources.platform_settings.policy()
        assert policy.backoff_seconds == 0.5 and policy.stale_heartbeat_factor == 4.0
        assert resources.platform_settings.notification_backoff() == (1.0, 4.0)
        assert resources.telegram.sender().base_url == "http://127.0.0.1:9/bot"
        email = resources.email.sender()
        assert (email.host, email.port, email.sender) == (
            "mail.example.invalid",
            2525,
            "bots@example.invalid",
        )
        assert email.tls == "none" and email.user is None  # no user: no STARTTLS


def test_a_setting_that_is_not_a_number_is_named(monkeypatch) -> None:
    monkeypatch.setenv("TRADING_RESTART_BACKOFF_MAX_SECONDS", "five minutes")
    with (
        build_resources(platform_resources()) as resources,
        pytest.raises(ValueError, match="TRADING_RESTART_BACKOFF_MAX_SECONDS"),
    ):
        resources.platform_settings.policy()


def test_the_dispatcher_builds_its_senders_once_not_per_tick(
    monkeypatch, database_url, instance
) -> None:
    token = f"1:{uuid.uuid4().hex}"  # settings no earlier test used
    monkeypatch.setenv("TRADING_DATABASE_URL", database_url)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", "1")
    seen = []

    def record(engine, senders, **kwargs):
        seen.append(dict(senders))
        return dispatch_pending(engine, {}, **kwargs)  # nothing is pending: sends nothing

    monkeypatch.setattr(notification_sensors, "dispatch_pending", record)
    repository = platform_definitions().get_repository_def()
    sensor = repository.get_sensor_def("notification_dispatcher")
    for _tick in range(3):
        # as the code server does: a new context, hence new resource objects, every tick
        context = build_sensor_context(
            instance=instance,
            repository_def=repository,
            resources=repository.get_top_level_resources(),
        )
        with context:
            sensor.evaluate_tick(context)
    assert len(seen) == 3
    first = seen[0]
    assert set(first) == {Channel.TELEGRAM, Channel.EMAIL}
    assert first[Channel.TELEGRAM].token == token
    for later in seen[1:]:
        assert all(later[channel] is first[channel] for channel in first)
