"""A Binance-compatible spot exchange on 127.0.0.1, for the real ``ccxt.binance`` client.

Endpoints (``/api/v3``): exchangeInfo (price and lot filters), time, klines, ticker/24hr,
account, order (POST market/limit with ``newClientOrderId``, GET by id or client id,
DELETE), openOrders, myTrades.  Signed endpoints check ``X-MBX-APIKEY`` and the HMAC-SHA256
``signature`` of the query string and body.

The market moves when the test says so (:meth:`Emulator.close_candle`) or, in ``live`` mode,
with the wall clock (one candle every ``candle_seconds``).  Market orders fill at the last
price, limit orders when a candle crosses their price; ``partial_fill_fraction`` < 1 fills
market orders in two fills.  Faults are queued per test: ``"timeout"``, ``429``, ``500`` and
``"lost"`` (the order is accepted, the answer is a 500) and ``"late"`` (the request is
handled ``late_seconds`` after it arrived, long after the client gave up); ``order_faults``
hit order placement only, ``cancel_faults`` cancels only.  ``trade_delay_seconds`` keeps
each trade out of ``myTrades`` for that long after it happened, and ``answer_fills = False``
leaves the fills out of an order's answer (Binance's ``RESULT`` response): together they make
an order that is ``FILLED`` before its trades can be seen.  ``myTrades`` honours ``orderId``,
``fromId``, ``startTime`` and ``limit`` (default 500, at most 1000), oldest first, as Binance
does.
``mutate_answer(method, route, payload)`` (a test's hook) returns what is sent instead of a
successful answer's payload (a deep copy: the emulator's own state is untouched), so a test
can hand the client missing fields, strings for numbers, nulls or negative amounts.
``clock_offset_ms`` sets the exchange's clock ahead of (or, negative, behind) the local one:
``/time`` and the candles' times follow it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

COMMISSION = Decimal("0.001")
TICK = Decimal("0.01")
STEP = Decimal("0.00001")
MIN_QTY = Decimal("0.00001")
MIN_NOTIONAL = Decimal("5")


class ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


@dataclass
class Candle:
    open_time: int  # ms
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal("10")


@dataclass
class Order:
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    price: Decimal | None
    quantity: Decimal
    time: int
    executed: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)
    status: str = "NEW"
    updated: int = 0

    def json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": str(self.price or "0.00000000"),
            "origQty": str(self.quantity),
            "executedQty": str(self.executed),
            "cummulativeQuoteQty": str(self.quote),
            "status": self.status,
            "timeInForce": "GTC" if self.type == "LIMIT" else "GTC",
            "type": self.type,
            "side": self.side,
            "stopPrice": "0.00000000",
            "icebergQty": "0.00000000",
            "time": self.time,
            "updateTime": self.updated or self.time,
            "isWorking": True,
            "workingTime": self.time,
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "NONE",
        }


@dataclass
class Account:
    secret: str
    balances: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)


class Emulator:
    """State and matching engine; :meth:`start` serves it over HTTP."""

    def __init__(
        self,
        *,
        symbol: str = "BTCUSDT",
        base: str = "BTC",
        quote: str = "USDT",
        start_price: str = "30000",
        candle_seconds: int = 60,
        history: int = 300,
        live: bool = False,
        clock_offset_ms: int = 0,
    ) -> None:
        self.symbol, self.base, self.quote = symbol, base, quote
        #: the exchange's clock minus the local clock (``/time``, candle times)
        self.clock_offset_ms = clock_offset_ms
        self.candle_ms = candle_seconds * 1000
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.faults: deque[Any] = deque()
        #: faults for order placement only (POST /order), e.g. ``"lost"``
        self.order_faults: deque[Any] = deque()
        #: faults for cancels only (DELETE /order)
        self.cancel_faults: deque[Any] = deque()
        #: a trade appears in myTrades only this long after it happened
        self.trade_delay_seconds = 0.0
        #: whether an order's answer carries its fills (Binance's FULL response)
        self.answer_fills = True
        #: every myTrades request's parameters
        self.trade_queries: list[dict[str, str]] = []
        #: a random fault (timeout, 429 or 500) on this fraction of requests
        self.fault_rate = 0.0
        self.random = random.Random(11)
        self.timeout_seconds = 3.0
        self.late_seconds = 1.5
        #: called after an order was executed whose answer is lost (a test's hook)
        self.on_lost_answer: Any = None
        #: rewrites a successful answer (method, route without /api/v3, payload): a test's hook
        self.mutate_answer: Any = None
        #: called after an order was placed (e.g. to queue a fault for the next request)
        self.after_order: Any = None
        self.requests: list[tuple[str, str]] = []
        self.order_posts = 0
        #: wall-clock time at which each order request arrived
        self.order_arrivals: list[float] = []
        #: the API key of every signed request refused (unknown key or bad signature)
        self.rejected_keys: list[str] = []
        self.partial_fill_fraction = Decimal(1)
        self.next_order_id = 1000
        self.next_trade_id = 5000
        self.live = live
        self.reachable = True
        now = self.now_ms() // self.candle_ms * self.candle_ms
        price = Decimal(start_price)
        self.candles: list[Candle] = []
        for n in range(history, 0, -1):
            step = Decimal(((n * 7919) % 21) - 10) / Decimal(1000)  # deterministic wiggle
            close = (price * (1 + step)).quantize(TICK)
            self.candles.append(
                Candle(
                    now - n * self.candle_ms,
                    price,
                    max(price, close) + 1,
                    min(price, close) - 1,
                    close,
                )
            )
            price = close
        self.forming = Candle(now, price, price, price, price, Decimal(0))
        self.server: ThreadingHTTPServer | None = None

    # -- test controls ----------------------------------------------------------------------
    def now_ms(self) -> int:
        """The exchange's clock: the local one shifted by ``clock_offset_ms``."""
        return int(time.time() * 1000) + self.clock_offset_ms

    def add_account(self, api_key: str, secret: str, **balances: str) -> None:
        self.accounts[api_key] = Account(secret, {k: Decimal(v) for k, v in balances.items()})

    @property
    def last_price(self) -> Decimal:
        return self.forming.close

    def move_price(self, price: str | Decimal) -> None:
        """A trade in the forming candle at ``price`` (fills crossed limit orders)."""
        with self.lock:
            price = Decimal(price).quantize(TICK)
            candle = self.forming
            candle.close = price
            candle.high = max(candle.high, price)
            candle.low = min(candle.low, price)
            candle.volume += 1
            self._match_limits()

    def close_candle(self, price: str | Decimal | None = None) -> Candle:
        """Close the forming candle (at ``price``) and open the next one."""
        with self.lock:
            if price is not None:
                self.move_price(price)
            closed = self.forming
            self.candles.append(closed)
            self.forming = Candle(
                closed.open_time + self.candle_ms,
                closed.close,
                closed.close,
                closed.close,
                closed.close,
                Decimal(0),
            )
            return closed

    def _roll_clock(self) -> None:
        if not self.live:
            return
        now = self.now_ms()
        while now >= self.forming.open_time + self.candle_ms:
            step = Decimal((len(self.candles) * 7919 % 41) - 20) / Decimal(1000)
            self.close_candle((self.forming.close * (1 + step)).quantize(TICK))

    # -- matching -----------------------------------------------------------------------------
    def _fill(
        self, account: Account, order: Order, quantity: Decimal, price: Decimal, maker: bool
    ) -> dict[str, Any]:
        quote_qty = (quantity * price).quantize(Decimal("0.00000001"))
        if order.side == "BUY":
            fee = (quantity * COMMISSION).quantize(Decimal("0.00000001"))
            account.balances[self.quote] = account.balances.get(self.quote, Decimal(0)) - quote_qty
            account.balances[self.base] = (
                account.balances.get(self.base, Decimal(0)) + quantity - fee
            )
            fee_asset = self.base
        else:
            fee = (quote_qty * COMMISSION).quantize(Decimal("0.00000001"))
            account.balances[self.base] = account.balances.get(self.base, Decimal(0)) - quantity
            account.balances[self.quote] = (
                account.balances.get(self.quote, Decimal(0)) + quote_qty - fee
            )
            fee_asset = self.quote
        self.next_trade_id += 1
        now = int(time.time() * 1000)
        trade = {
            "symbol": order.symbol,
            "id": self.next_trade_id,
            "orderId": order.order_id,
            "orderListId": -1,
            "price": str(price),
            "qty": str(quantity),
            "quoteQty": str(quote_qty),
            "commission": str(fee),
            "commissionAsset": fee_asset,
            "time": now,
            "isBuyer": order.side == "BUY",
            "isMaker": maker,
            "isBestMatch": True,
        }
        account.trades.append(trade)
        order.executed += quantity
        order.quote += quote_qty
        order.updated = now
        order.status = "FILLED" if order.executed >= order.quantity else "PARTIALLY_FILLED"
        return {
            "price": str(price),
            "qty": str(quantity),
            "commission": str(fee),
            "commissionAsset": fee_asset,
            "tradeId": self.next_trade_id,
        }

    def _match_limits(self) -> None:
        price = self.forming.close
        for account in self.accounts.values():
            for order in account.orders.values():
                if order.type != "LIMIT" or order.status not in ("NEW", "PARTIALLY_FILLED"):
                    continue
                assert order.price is not None
                crossed = price <= order.price if order.side == "BUY" else price >= order.price
                if crossed:
                    self._fill(account, order, order.quantity - order.executed, order.price, True)

    # -- request handling -------------------------------------------------------------------
    def _account(self, headers: Any, query: str, body: str, params: dict[str, str]) -> Account:
        api_key = headers.get("X-MBX-APIKEY")
        account = self.accounts.get(api_key or "")
        if account is None:
            self.rejected_keys.append(api_key or "")
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signature = params.pop("signature", "")
        payload = "&".join(part for part in (query, body) if part)
        payload = "&".join(p for p in payload.split("&") if not p.startswith("signature="))
        expected = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            self.rejected_keys.append(api_key or "")
            raise ApiError(400, -1022, "Signature for this request is not valid.")
        return account

    def handle(self, method: str, path: str, query: str, body: str, headers: Any) -> Any:
        params = dict(parse_qsl(query)) | dict(parse_qsl(body))
        route = path.removeprefix("/api/v3")
        with self.lock:
            self._roll_clock()
            self.requests.append((method, route))
            if route == "/time":
                return {"serverTime": self.now_ms()}
            if route == "/exchangeInfo":
                return self._exchange_info()
            if route == "/klines":
                return self._klines(params)
            if route == "/ticker/24hr":
                return self._ticker()
            account = self._account(headers, query, body, params)
            if route == "/account":
                return {
                    "makerCommission": 10,
                    "takerCommission": 10,
                    "canTrade": True,
                    "canWithdraw": True,
                    "canDeposit": True,
                    "accountType": "SPOT",
                    "updateTime": int(time.time() * 1000),
                    "permissions": ["SPOT"],
                    "balances": [
                        {"asset": a, "free": str(v), "locked": "0.00000000"}
                        for a, v in account.balances.items()
                    ],
                }
            if route == "/order" and method == "POST":
                return self._create(account, params)
            if route == "/order" and method == "GET":
                return self._find(account, params).json()
            if route == "/order" and method == "DELETE":
                order = self._find(account, params)
                if order.status not in ("NEW", "PARTIALLY_FILLED"):
                    raise ApiError(400, -2011, "Unknown order sent.")
                order.status = "CANCELED"
                return order.json()
            if route == "/openOrders":
                return [
                    o.json()
                    for o in account.orders.values()
                    if o.status in ("NEW", "PARTIALLY_FILLED")
                ]
            if route == "/myTrades":
                return self._my_trades(account, params)
        raise ApiError(404, -1000, f"unknown endpoint {method} {path}")

    def _my_trades(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        self.trade_queries.append({k: v for k, v in params.items() if k != "signature"})
        since = int(params.get("startTime", 0))
        from_id = int(params.get("fromId", 0))
        order_id = int(params["orderId"]) if "orderId" in params else None
        limit = min(int(params.get("limit", 500)), 1000)
        visible_until = (time.time() - self.trade_delay_seconds) * 1000
        trades = [
            t
            for t in account.trades
            if t["time"] >= since
            and t["id"] >= from_id
            and t["time"] <= visible_until
            and (order_id is None or t["orderId"] == order_id)
        ]
        return sorted(trades, key=lambda t: t["id"])[:limit]

    def _exchange_info(self) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [
                {
                    "symbol": self.symbol,
                    "status": "TRADING",
                    "baseAsset": self.base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": self.quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "baseCommissionPrecision": 8,
                    "quoteCommissionPrecision": 8,
                    "orderTypes": ["LIMIT", "MARKET"],
                    "icebergAllowed": False,
                    "ocoAllowed": False,
                    "otoAllowed": False,
                    "quoteOrderQtyMarketAllowed": True,
                    "allowTrailingStop": False,
                    "cancelReplaceAllowed": False,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": str(TICK),
                            "maxPrice": "1000000.00",
                            "tickSize": str(TICK),
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": str(MIN_QTY),
                            "maxQty": "9000.00000",
                            "stepSize": str(STEP),
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": str(MIN_NOTIONAL),
                            "applyMinToMarket": True,
                            "maxNotional": "9000000.00",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                    ],
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                    "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"],
                }
            ],
        }

    def _klines(self, params: dict[str, str]) -> list[list[Any]]:
        candles = [*self.candles, self.forming]
        start = int(params.get("startTime", 0))
        end = int(params.get("endTime", 2**62))
        limit = int(params.get("limit", 500))
        chosen = [c for c in candles if start <= c.open_time <= end]
        chosen = chosen[:limit] if "startTime" in params else chosen[-limit:]
        return [
            [
                c.open_time,
                str(c.open),
                str(c.high),
                str(c.low),
                str(c.close),
                str(c.volume),
                c.open_time + self.candle_ms - 1,
                "0",
                1,
                "0",
                "0",
                "0",
            ]
            for c in chosen
        ]

    def _ticker(self) -> dict[str, Any]:
        price = str(self.last_price)
        return {
            "symbol": self.symbol,
            "lastPrice": price,
            "bidPrice": price,
            "askPrice": price,
            "openPrice": str(self.candles[-1].close),
            "highPrice": price,
            "lowPrice": price,
            "volume": "100",
            "quoteVolume": "100",
            "openTime": self.forming.open_time,
            "closeTime": int(time.time() * 1000),
            "count": 1,
            "priceChange": "0",
            "priceChangePercent": "0",
            "weightedAvgPrice": price,
            "prevClosePrice": price,
            "lastQty": "1",
            "bidQty": "1",
            "askQty": "1",
            "firstId": 1,
            "lastId": 1,
        }

    def _find(self, account: Account, params: dict[str, str]) -> Order:
        if "orderId" in params:
            order = account.orders.get(int(params["orderId"]))
        else:
            wanted = params.get("origClientOrderId")
            order = next((o for o in account.orders.values() if o.client_order_id == wanted), None)
        if order is None:
            raise ApiError(400, -2013, "Order does not exist.")
        return order

    def _create(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        self.order_posts += 1
        self.order_arrivals.append(time.time())
        client_id = params.get("newClientOrderId") or f"emu-{self.next_order_id + 1}"
        if any(o.client_order_id == client_id for o in account.orders.values()):
            raise ApiError(400, -2010, "Duplicate order sent.")
        side, kind = params["side"], params["type"]
        quantity = Decimal(params["quantity"])
        if quantity < MIN_QTY or quantity != quantity.quantize(STEP, rounding=ROUND_DOWN):
            raise ApiError(400, -1013, "Filter failure: LOT_SIZE")
        price = Decimal(params["price"]) if kind == "LIMIT" else None
        if price is not None and price != price.quantize(TICK):
            raise ApiError(400, -1013, "Filter failure: PRICE_FILTER")
        if (price or self.last_price) * quantity < MIN_NOTIONAL:
            raise ApiError(400, -1013, "Filter failure: NOTIONAL")
        cost = (price or self.last_price) * quantity
        if side == "BUY" and account.balances.get(self.quote, Decimal(0)) < cost:
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
        if side == "SELL" and account.balances.get(self.base, Decimal(0)) < quantity:
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
        self.next_order_id += 1
        order = Order(
            self.next_order_id,
            client_id,
            params["symbol"],
            side,
            kind,
            price,
            quantity,
            int(time.time() * 1000),
        )
        account.orders[order.order_id] = order
        fills = []
        if kind == "MARKET":
            first = (quantity * self.partial_fill_fraction).quantize(STEP, rounding=ROUND_DOWN)
            if Decimal(0) < first < quantity:
                fills.append(self._fill(account, order, first, self.last_price, False))
                fills.append(self._fill(account, order, quantity - first, self.last_price, False))
            else:
                fills.append(self._fill(account, order, quantity, self.last_price, False))
        else:
            self._match_limits()
        answer = {**order.json(), "transactTime": order.time}
        if self.after_order is not None:
            self.after_order()
        return {**answer, "fills": fills} if self.answer_fills else answer

    # -- HTTP --------------------------------------------------------------------------------
    def start(self) -> Emulator:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                url = urlsplit(self.path)
                fault = None
                with emulator.lock:
                    if not emulator.reachable:
                        fault = "timeout"
                    elif emulator.faults and not url.path.endswith(("/time", "/exchangeInfo")):
                        fault = emulator.faults.popleft()
                    elif emulator.order_faults and method == "POST":
                        fault = emulator.order_faults.popleft()
                    elif emulator.cancel_faults and method == "DELETE":
                        fault = emulator.cancel_faults.popleft()
                    elif emulator.fault_rate and emulator.random.random() < emulator.fault_rate:
                        fault = emulator.random.choice(["timeout", 429, 500])
                if fault == "timeout":
                    time.sleep(emulator.timeout_seconds)
                    self.close_connection = True
                    return
                if fault == "late":  # still in flight when the client has given up
                    time.sleep(emulator.late_seconds)
                    self.close_connection = True
                if fault == 429:
                    return self._answer(429, {"code": -1003, "msg": "Too many requests."})
                if fault == 500:
                    return self._answer(500, "Internal Server Error")
                try:
                    result = emulator.handle(method, url.path, url.query, body, self.headers)
                except ApiError as exc:
                    return self._answer(exc.status, {"code": exc.code, "msg": exc.msg})
                if fault == "lost":  # accepted and executed, but the answer never arrives
                    if emulator.on_lost_answer is not None:
                        emulator.on_lost_answer()
                    return self._answer(500, "Internal Server Error")
                if fault == "late":
                    return  # nobody is listening any more
                if emulator.mutate_answer is not None:
                    route = url.path.removeprefix("/api/v3")
                    result = emulator.mutate_answer(method, route, copy.deepcopy(result))
                self._answer(200, result)

            def _answer(self, status: int, payload: Any) -> None:
                text = isinstance(payload, str)
                data = payload.encode() if text else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if text else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@contextlib.contextmanager
def served_emulator(
    accounts: dict[str, str], *, usdt: str = "10000", history: int = 200
) -> Iterator[Emulator]:
    """A live one-second emulator serving an account of ``usdt`` USDT per API key of
    ``accounts`` (key -> secret), answering a request within 1.5 s (past the bots' 1 s
    timeout, its timeouts are real ones); stopped at the end."""
    emulator = Emulator(candle_seconds=1, history=history, live=True)
    for key, secret in accounts.items():
        emulator.add_account(key, secret, USDT=usdt)
    emulator.timeout_seconds = 1.5
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def exchange_env(urls: dict[str, str], credentials: dict[str, tuple[str, str]]) -> dict[str, str]:
    """The environment that sends bots to emulators (exchange id -> URL) with a 1 s request
    timeout, and names their credential sets (set name -> (API key, secret))."""
    env = {f"TRADING_EXCHANGE_URL_{exchange.upper()}": url for exchange, url in urls.items()}
    env["TRADING_EXCHANGE_TIMEOUT_MS"] = "1000"
    for name, (key, secret) in credentials.items():
        env[f"TRADING_CREDENTIALS_{name}_API_KEY"] = key
        env[f"TRADING_CREDENTIALS_{name}_SECRET"] = secret
    return env


def serve_emulator_account(monkeypatch: Any, api_key: str, secret: str) -> Iterator[Emulator]:
    """A live one-second emulator with one account (10,000 USDT), served as ``binance`` to
    bots whose config names the credential set ``EMU``; stopped when the test ends."""
    with served_emulator({api_key: secret}, history=120) as emulator:
        env = exchange_env({"binance": emulator.url}, {"EMU": (api_key, secret)})
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield emulator
