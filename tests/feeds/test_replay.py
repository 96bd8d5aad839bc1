"""The replay market (feeds/replay.py): deterministic and continuous where it wraps; its live
feed gives history first, then live bars, and orders fill only when live."""

import backtrader as bt

from trading_platform.engine.paper import PaperBroker
from trading_platform.feeds.replay import ReplayMarket, replay_feed


def test_market_is_a_function_of_time_and_wraps_without_a_jump() -> None:
    market = ReplayMarket.generated(bars=100, seed=1, start_price=100.0, pace_seconds=2.0)
    assert market.bar_number_at(10.0) == 4  # bars 0..4 closed by t=10 s
    assert market.close_time(4) == 10.0
    # deterministic: another market from the same seed has the same bars, another seed not
    same = ReplayMarket.generated(bars=100, seed=1, start_price=100.0, pace_seconds=2.0)
    other = ReplayMarket.generated(bars=100, seed=2, start_price=100.0, pace_seconds=2.0)
    assert same.bar(7) == market.bar(7) and other.bar(7) != market.bar(7)
    last_forward, first_backward = market.bar(99), market.bar(100)
    assert first_backward.open == last_forward.close  # played backwards: continuous
    assert market.bar(200).close == market.bar(0).close  # full cycle


def test_history_first_then_live_bars_and_orders_only_when_live() -> None:
    market = ReplayMarket.generated(bars=500, seed=2, start_price=100.0, pace_seconds=0.05)
    feed, publisher = replay_feed(market, history_bars=10)
    results: dict[str, list] = {"live": [], "statuses": []}

    class Probe(bt.Strategy):
        def next(self) -> None:
            results["live"].append(feed.live)
            if len(results["live"]) in (3, 13) and not self.position:
                self.buy(size=1)
            if len(results["live"]) >= 16:
                self.env.runstop()

        def notify_order(self, order) -> None:
            if not order.alive():
                results["statuses"].append((order.getstatusname(), len(results["live"])))

    cerebro = bt.Cerebro(stdstats=False, live=True)
    cerebro.setbroker(PaperBroker(feed=feed))
    cerebro.adddata(feed)
    cerebro.addstrategy(Probe)
    publisher.start()
    try:
        cerebro.run()
    finally:
        publisher.stop()
    assert results["live"][:10] == [False] * 10 and all(results["live"][10:])
    assert results["statuses"][0] == ("Rejected", 3)  # placed on a history bar
    # placed live on bar 13, filled at the open of bar 14 (notified before its next())
    assert ("Completed", 13) in results["statuses"]
