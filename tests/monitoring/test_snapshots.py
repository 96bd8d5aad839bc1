"""Performance snapshots and the portfolio (monitoring/snapshots.py) on hand-built trades,
figures computed by hand."""

from __future__ import annotations

import datetime as dt
import math
import statistics

import pytest

from tests.support.builders import add_bot
from tests.support.counting import count_rows
from trading_platform.db.models import MetricSnapshot
from trading_platform.db.positions import save_position
from trading_platform.db.status import heartbeat
from trading_platform.db.trades import record_trade
from trading_platform.db.users import ensure_user
from trading_platform.monitoring import snapshots

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
#: the equity curve starts at the broker's cash
STARTS_WITH_1000 = {"broker": {"cash": 1000}}


def _fill(engine, bot_id, n, side, amount, price, fee, pnl, day):
    record_trade(
        engine,
        bot_id=bot_id,
        run_id="r",
        fill_id=f"{bot_id}-{n}",
        side=side,
        amount=amount,
        price=price,
        fee=fee,
        pnl=pnl,
        executed_at=dt.datetime(2026, 3, day, 12, tzinfo=dt.UTC),
    )


def test_performance_by_hand(db_engine) -> None:
    a = add_bot(db_engine, "a", user="alice", config=STARTS_WITH_1000)
    b = add_bot(db_engine, "b", user="alice", config=STARTS_WITH_1000)
    add_bot(db_engine, "c", user="bob", config=STARTS_WITH_1000)
    # bot a: three round trips, day 1: +100 (fees 2), day 2: -50 (fees 2), day 3: +30 (fees 2)
    _fill(db_engine, a, 1, "buy", "1", "100", "1", None, 1)
    _fill(db_engine, a, 2, "sell", "1", "200", "1", "100", 1)
    _fill(db_engine, a, 3, "buy", "1", "200", "1", None, 2)
    _fill(db_engine, a, 4, "sell", "1", "150", "1", "-50", 2)
    _fill(db_engine, a, 5, "buy", "1", "150", "1", None, 3)
    _fill(db_engine, a, 6, "sell", "1", "180", "1", "30", 3)
    save_position(db_engine, a, "BTC/USDT", size=0, avg_price=None, cash="1074")
    # bot b: one open position, no closed trade, reported equity 1010
    _fill(db_engine, b, 1, "buy", "2", "100", "0.5", None, 1)
    save_position(db_engine, b, "BTC/USDT", size="2", avg_price="100", cash="799.5")
    heartbeat(db_engine, b, balance="1010", total_pnl="10")
    rows = {r.name: r for r in snapshots.compute(db_engine, periods_per_year=365)}
    ra = rows["a"]
    assert ra.trade_count == 3
    assert ra.realized_pnl == pytest.approx(80 - 6)
    assert ra.win_rate == pytest.approx(2 / 3)
    assert ra.profit_factor == pytest.approx(130 / 50)
    assert ra.balance == pytest.approx(1074) and ra.equity == pytest.approx(1074)
    assert ra.unrealized_pnl == pytest.approx(0)
    curve = [1000, 1098, 1046, 1074]
    assert ra.max_drawdown == pytest.approx((1098 - 1046) / 1098)
    returns = [curve[i + 1] / curve[i] - 1 for i in range(3)]
    assert ra.sharpe == pytest.approx(
        statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365)
    )
    rb = rows["b"]
    assert rb.trade_count == 0 and rb.win_rate is None and rb.profit_factor is None
    assert rb.realized_pnl == pytest.approx(-0.5)
    assert rb.equity == pytest.approx(1010)
    assert rb.unrealized_pnl == pytest.approx(1010 - 799.5 - 200)
    assert rows["c"].trade_count == 0 and rows["c"].equity == pytest.approx(1000)

    assert snapshots.write_snapshots(db_engine, list(rows.values()), NOW) == 3
    assert count_rows(db_engine, MetricSnapshot) == 3
    latest = snapshots.latest_snapshots(db_engine)
    overall, by_user = snapshots.portfolio(latest)
    assert overall.equity == pytest.approx(1074 + 1010 + 1000)
    assert overall.realized_pnl == pytest.approx(74 - 0.5)
    assert overall.open_positions == 1 and overall.bots == 3
    alice = ensure_user(db_engine, "alice")
    assert by_user[str(alice)].equity == pytest.approx(2084)
    assert by_user[str(alice)].total_pnl == pytest.approx(74 - 0.5 + 10.5)
