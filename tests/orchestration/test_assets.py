"""bot_health with its checks, and bot_performance -> portfolio_pnl, materialized for real
(Dagster's in-process executor) against a real bot database."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from dagster import DagsterInstance, materialize
from sqlalchemy import text

from tests.support.builders import add_bot
from tests.support.counting import count_rows
from trading_platform.db.bots import set_bot
from trading_platform.db.models import MetricSnapshot
from trading_platform.db.positions import save_position
from trading_platform.db.status import heartbeat, update_bot_status
from trading_platform.db.trades import record_trade
from trading_platform.db.users import ensure_user
from trading_platform.orchestration.assets import bot_health, bot_performance, portfolio_pnl
from trading_platform.orchestration.checks import heartbeats_fresh, no_bot_in_error
from trading_platform.orchestration.resources import BotDatabase

#: a heartbeat is stale after three intervals (30 s) but never before 60 s
BEATS_EVERY_10_S = {"heartbeat_interval": 10}


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dh").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dh")) as instance:
        yield instance


def _checks(result) -> dict[str, object]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_checks_fail_naming_the_bots_then_pass(db_engine, database_url, instance) -> None:
    ensure_user(db_engine, "ops", email="ops@example.invalid")  # told of incidents by e-mail
    healthy = add_bot(db_engine, "healthy-bot", user="ops", config=BEATS_EVERY_10_S)
    stopped = add_bot(db_engine, "stopped-bot", user="ops", config=BEATS_EVERY_10_S)
    stale = add_bot(db_engine, "stale-bot", user="ops", config=BEATS_EVERY_10_S)
    for bot_id in (healthy, stale):
        update_bot_status(db_engine, bot_id, "running", "t")
    now = dt.datetime.now(dt.UTC)
    heartbeat(db_engine, healthy, at=now)
    heartbeat(db_engine, stale, at=now - dt.timedelta(minutes=5))
    resources = {"bot_database": BotDatabase(url=database_url)}
    assets = [bot_health, heartbeats_fresh, no_bot_in_error]
    result = materialize(assets, resources=resources, instance=instance)
    assert result.success
    checks = _checks(result)
    fresh = checks["heartbeats_fresh"]
    assert not fresh.passed
    assert "stopped-bot" in fresh.description and "stale-bot" in fresh.description
    assert "healthy-bot" not in fresh.description
    assert checks["no_bot_in_error"].passed
    (materialization,) = result.asset_materializations_for_node("bot_health")
    assert materialization.metadata["healthy"].value == 1
    assert materialization.metadata["unhealthy"].value == 2
    # the owners hear of it once per incident, however often the schedule runs
    materialize(assets, resources=resources, instance=instance)
    with db_engine.connect() as connection:
        texts = (
            connection.execute(
                text("SELECT text FROM notifications WHERE type = 'BOT_UNHEALTHY' ORDER BY id")
            )
            .scalars()
            .all()
        )
    assert len(texts) == 1
    # the age depends on when the run got to it (a loaded machine is slow): at least the 300 s
    # the heartbeat was old when the test began
    found = re.fullmatch(r"\[stale-bot\] UNHEALTHY: heartbeat (\d+) s old \(limit 60 s\)", texts[0])
    assert found and int(found.group(1)) >= 300

    update_bot_status(db_engine, stale, "error", "x", error="RuntimeError: boom")
    checks = _checks(materialize(assets, resources=resources, instance=instance))
    assert not checks["no_bot_in_error"].passed
    assert "stale-bot" in checks["no_bot_in_error"].description

    set_bot(db_engine, stopped, enabled=False)
    set_bot(db_engine, stale, enabled=False)
    checks = _checks(materialize(assets, resources=resources, instance=instance))
    assert checks["heartbeats_fresh"].passed and checks["no_bot_in_error"].passed


def test_performance_and_portfolio_by_hand(db_engine, database_url, instance) -> None:
    user = ensure_user(db_engine, "alice")
    bot_id = add_bot(db_engine, "earner", user_id=user, config={"broker": {"cash": 1000}})
    for n, (side, price, pnl) in enumerate(
        [("buy", "100", None), ("sell", "120", "20"), ("buy", "120", None), ("sell", "110", "-10")]
    ):
        record_trade(
            db_engine,
            bot_id=bot_id,
            run_id="r",
            fill_id=str(n),
            side=side,
            amount="1",
            price=price,
            fee="1",
            pnl=pnl,
            executed_at=dt.datetime(2026, 1, 1 + n, tzinfo=dt.UTC),
        )
    save_position(db_engine, bot_id, "BTC/USDT", size=0, avg_price=None, cash="1006")
    result = materialize(
        [bot_performance, portfolio_pnl],
        instance=instance,
        resources={"bot_database": BotDatabase(url=database_url)},
    )
    assert result.success
    assert count_rows(db_engine, MetricSnapshot, bot_id) == 1
    (portfolio,) = result.asset_materializations_for_node("portfolio_pnl")
    # realized = 20 - 10 - 4 fees = 6; equity = cash 1006, no open position
    assert portfolio.metadata["total_pnl"].value == pytest.approx(6.0)
    assert portfolio.metadata["total_equity"].value == pytest.approx(1006.0)
    assert portfolio.metadata["open_positions"].value == 0


def test_performance_assets_materialize_with_no_bots(database_url, instance) -> None:
    """A fresh platform has no bots: the P&L assets still materialize, with zero totals."""
    result = materialize(
        [bot_performance, portfolio_pnl],
        resources={"bot_database": BotDatabase(url=database_url)},
        instance=instance,
    )
    assert result.success
    (portfolio,) = result.asset_materializations_for_node("portfolio_pnl")
    assert portfolio.metadata["total_equity"].value == 0.0
    assert portfolio.metadata["bots"].value == 0
