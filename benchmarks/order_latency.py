"""Time from a candle closing at the exchange to the order it triggers arriving there.

A live bot (the ``flip_flop`` test strategy: a signal on every bar) trades one-second candles
on the exchange emulator through the real ccxt client, with a SQLite bot database, so each
order pays for the candle poll, Cerebro, the write-ahead row and the order request.  A candle
closes on a whole second; the latency of an order is its arrival time minus the last close.

The feed asks for a candle ``CLOSE_GRACE_SECONDS`` after its close (its poll interval: it
does not poll on a timer, it waits for the next close).  Goal (issue 4): median at most that
poll interval plus 100 ms.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.builders import PLUGINS
from tests.support.exchange_emulator import Emulator
from tests.support.waiting import wait_for
from trading_platform.config import validate_bot_config
from trading_platform.db import make_engine
from trading_platform.db.bots import add_bot
from trading_platform.db.grants import grant
from trading_platform.db.migrate import upgrade
from trading_platform.db.users import ensure_user
from trading_platform.engine.runner import BotRunner
from trading_platform.exchanges import candles
from trading_platform.strategy_handler import load_registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=60)
    args = parser.parse_args()
    emulator = Emulator(candle_seconds=1, history=50, live=True)
    emulator.add_account("bench-key", "bench-secret", USDT="1000000")
    emulator.start()
    env = {
        "TRADING_EXCHANGE_URL_BINANCE": emulator.url,
        "TRADING_CREDENTIALS_BENCH_API_KEY": "bench-key",
        "TRADING_CREDENTIALS_BENCH_SECRET": "bench-secret",
    }
    os.environ.update(env)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'trading.db'}"
        upgrade(url)
        engine = make_engine(url)
        registry, _ = load_registry([PLUGINS])
        desired = dict(
            strategy="flip_flop",
            mode="live",
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1s",
            config={
                "params": {"hold": 1},
                "risk": {"stake": 0.01},
                "data": {"history_bars": 5},
                "credentials": "BENCH",
            },
        )
        owner = ensure_user(engine, "bench")
        grant(engine, owner, "BENCH", granted_by="benchmark")  # the run refuses it otherwise
        bot_id = add_bot(engine, name="bench-latency", user_id=owner, enabled=True, **desired)
        config = validate_bot_config(
            name="bench-latency", registry=registry, bot_id=bot_id, **desired
        )
        runner = BotRunner(config, registry, engine, run_id="bench", incarnation=1)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        try:
            wait_for(
                lambda: len(emulator.order_arrivals) >= args.signals + 2,
                args.signals * 3 + 60,
                f"{args.signals} orders",
            )
        finally:
            runner.request_stop()
            thread.join(timeout=20)
            emulator.stop()
    arrivals = emulator.order_arrivals[2:]  # the first two warm connections up
    latencies_ms = sorted((at - math.floor(at)) * 1000 for at in arrivals)
    p99 = latencies_ms[min(len(latencies_ms) - 1, math.ceil(0.99 * len(latencies_ms)) - 1)]
    grace_ms = candles.CLOSE_GRACE_SECONDS * 1000
    print(f"signals: {len(latencies_ms)} (one-second candles, SQLite bot database)")
    print(
        f"candle close -> order at the exchange: median {statistics.median(latencies_ms):.0f} ms, "
        f"p99 {p99:.0f} ms, max {latencies_ms[-1]:.0f} ms"
    )
    print(f"poll interval (close grace) {grace_ms:.0f} ms; goal: median <= {grace_ms + 100:.0f} ms")


if __name__ == "__main__":
    main()
