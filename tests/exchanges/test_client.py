"""The real ccxt.binance client (exchanges/client.py) against the local emulator: what the
live feed and the live broker will rely on (issue 4)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import ccxt
import pytest

from tests.support.exchange_emulator import Emulator
from trading_platform.exchanges.client import make_client
from trading_platform.exchanges.credentials import Credentials, scrub

KEY, SECRET = "test-api-key-123", "test-secret-456"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emulator = Emulator(candle_seconds=60)
    emulator.add_account(KEY, SECRET, USDT="10000", BTC="0")
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def client(emulator):
    client = make_client(
        "binance", Credentials("MAIN", KEY, SECRET), base_url=emulator.url, timeout_ms=1500
    )
    client.load_markets()
    return client


def test_markets_candles_and_balance(client, emulator) -> None:
    market = client.market("BTC/USDT")
    assert market["precision"]["price"] == 0.01 and market["limits"]["amount"]["min"] == 0.00001
    candles = client.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    assert len(candles) == 5 and candles[-1][4] == float(emulator.last_price)
    assert client.fetch_balance()["USDT"]["free"] == 10000.0


def test_market_order_with_client_id_fills_and_is_found_again(client, emulator) -> None:
    order = client.create_order(
        "BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": "tp-1-1-1"}
    )
    assert order["status"] == "closed" and order["filled"] == 0.01
    again = client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "tp-1-1-1"})
    assert again["id"] == order["id"]
    with pytest.raises(ccxt.InvalidOrder):  # the id is honoured and unique
        client.create_order(
            "BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": "tp-1-1-1"}
        )
    (trade,) = client.fetch_my_trades("BTC/USDT")
    assert trade["order"] == order["id"] and trade["fee"]["currency"] == "BTC"
    balance = client.fetch_balance()
    assert balance["BTC"]["free"] == pytest.approx(0.01 * 0.999)


def test_limit_order_fills_when_price_crosses_and_can_be_cancelled(client, emulator) -> None:
    below = float(emulator.last_price - 100)
    order = client.create_order("BTC/USDT", "limit", "buy", 0.01, below)
    other = client.create_order("BTC/USDT", "limit", "buy", 0.01, below - 500)
    assert [o["id"] for o in client.fetch_open_orders("BTC/USDT")] == [order["id"], other["id"]]
    emulator.close_candle(Decimal(str(below)) - 1)
    assert client.fetch_order(order["id"], "BTC/USDT")["status"] == "closed"
    cancelled = client.cancel_order(other["id"], "BTC/USDT")
    assert cancelled["status"] == "canceled"
    assert client.fetch_open_orders("BTC/USDT") == []


def test_partial_fills(client, emulator) -> None:
    emulator.partial_fill_fraction = Decimal("0.4")
    order = client.create_order("BTC/USDT", "market", "buy", 0.01)
    trades = client.fetch_my_trades("BTC/USDT")
    assert [t["amount"] for t in trades] == [0.004, 0.006]
    assert order["filled"] == 0.01


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (429, ccxt.DDoSProtection),
        (500, ccxt.ExchangeNotAvailable),
        ("timeout", ccxt.RequestTimeout),
    ],
)
def test_faults_surface_as_ccxt_errors(client, emulator, fault, error) -> None:
    emulator.faults.append(fault)
    with pytest.raises(error):
        client.fetch_ohlcv("BTC/USDT", "1m", limit=2)
    assert client.fetch_ohlcv("BTC/USDT", "1m", limit=2)  # and then it works again


def test_lost_answer_order_exists_at_the_exchange(client, emulator) -> None:
    emulator.faults.append("lost")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.create_order(
            "BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": "tp-1-1-9"}
        )
    found = client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "tp-1-1-9"})
    assert found["status"] == "closed" and emulator.order_posts == 1


def test_wrong_secret_is_an_authentication_error_that_names_no_key(emulator) -> None:
    client = make_client(
        "binance", Credentials("MAIN", KEY, "wrong-secret-789"), base_url=emulator.url
    )
    client.load_markets()
    with pytest.raises(ccxt.AuthenticationError) as error:
        client.fetch_balance()
    assert "wrong-secret-789" not in scrub(
        str(error.value), client_credentials := Credentials("MAIN", KEY, "wrong-secret-789")
    )
    assert client_credentials.name == "MAIN"


def test_every_client_throttles_itself_and_refuses_stale_requests(emulator) -> None:
    """ccxt's rate limiter is on (requests are spaced by the exchange's ``rateLimit``), and a
    signed request older than ``recvWindow`` is refused by Binance: the live broker relies
    on that to tell a lost order from one that never arrived."""
    client = make_client("binance", base_url=emulator.url)
    assert client.enableRateLimit and client.options["recvWindow"] == 10_000
    client.load_markets()
    throttled: list[float] = []
    throttle = client.throttle

    def recording_throttle(cost=None):  # ccxt spaces requests here, before each one is sent
        throttled.append(cost)
        throttle(cost)

    client.throttle = recording_throttle
    for _ in range(3):
        client.fetch_ohlcv("BTC/USDT", "1m", limit=2)
    # every request waited for the klines endpoint's weight (a positive delay)
    assert len(throttled) == 3 and all(client.rateLimit * cost > 0 for cost in throttled)
    client.enableRateLimit = False  # the control: without the limiter nothing waits
    client.fetch_ohlcv("BTC/USDT", "1m", limit=2)
    assert len(throttled) == 3
