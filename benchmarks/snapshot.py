"""bot_performance + portfolio_pnl over 1,000 bots and 1,000,000 trades.

Fills a fresh SQLite database (or ``--database-url``) with N bots, each with trades spread
over a year and an open position, then times what the two assets do: compute every bot's
figures, write the snapshots, read the newest snapshots back and total them per user.

Goal (issue 5): at most 5 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from trading_platform.db import make_engine
from trading_platform.db.migrate import upgrade
from trading_platform.db.models import TradingBot, TradingPosition, TradingTrade, User
from trading_platform.monitoring import snapshots


def fill(url: str, bots: int, trades: int) -> None:
    engine = make_engine(url)
    rng = np.random.default_rng(1)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as connection:
        connection.execute(insert(User), [{"username": f"u{i}"} for i in range(bots // 50 + 1)])
        connection.execute(
            insert(TradingBot),
            [
                dict(
                    name=f"bot-{i}",
                    user_id=i // 50 + 1,
                    enabled=True,
                    strategy="sma_cross",
                    mode="paper",
                    exchange="replay",
                    symbol="BTC/USDT",
                    timeframe="1h",
                    config={"broker": {"cash": 10000}},
                )
                for i in range(bots)
            ],
        )
        connection.execute(
            insert(TradingPosition),
            [
                dict(bot_id=i + 1, symbol="BTC/USDT", size="0.1", avg_price="30000", cash="7000")
                for i in range(bots)
            ],
        )
    per_bot = trades // bots
    prices = np.round(rng.uniform(20_000, 40_000, size=trades), 2)
    pnls = np.round(rng.normal(5, 50, size=trades), 2)
    batch = []
    for i in range(trades):
        bot = i // per_bot % bots + 1
        sell = i % 2 == 1
        batch.append(
            {
                "bot_id": bot,
                "run_id": "bench",
                "fill_id": f"f{i}",
                "side": "sell" if sell else "buy",
                "amount": "0.1",
                "price": str(prices[i]),
                "fee": "0.5",
                "pnl": str(pnls[i]) if sell else None,
                "executed_at": start + dt.timedelta(minutes=int(i % per_bot) * 500),
            }
        )
        if len(batch) == 50_000:
            with engine.begin() as connection:
                connection.execute(insert(TradingTrade), batch)
            batch = []
    if batch:
        with engine.begin() as connection:
            connection.execute(insert(TradingTrade), batch)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=1_000)
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        started = time.perf_counter()
        fill(url, args.bots, args.trades)
        print(
            f"filled {args.bots:,} bots and {args.trades:,} trades in "
            f"{time.perf_counter() - started:.1f} s ({url.split(':')[0]})"
        )
        engine = make_engine(url)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            rows = snapshots.compute(engine)
            snapshots.write_snapshots(engine, rows, dt.datetime.now(dt.UTC))
            computed = time.perf_counter()
            overall, by_user = snapshots.portfolio(snapshots.latest_snapshots(engine))
            finished = time.perf_counter()
            times.append((finished - started, computed - started, finished - computed))
        best = min(times)
        print(
            f"bot_performance + portfolio_pnl: best {best[0]:.2f} s of 3 "
            f"(bot_performance {best[1]:.2f} s, portfolio_pnl {best[2]:.2f} s); "
            f"{len(rows):,} bots, total equity {overall.equity:,.2f}, "
            f"{len(by_user)} users (goal: <= 5 s)"
        )


if __name__ == "__main__":
    main()
