"""The one place a ccxt client is built.

Rate limiting is always on.  ``TRADING_EXCHANGE_URL_<ID>`` (e.g. ``TRADING_EXCHANGE_URL_BINANCE``)
points an exchange at another host, a local emulator in the tests: the client's API URLs are
then REPLACED by only ``public``/``private`` on that host, so any other endpoint family fails
instead of reaching the internet.  Offline-safe options skip the endpoints a spot bot does not
need (currencies, margin markets).
"""

from __future__ import annotations

import os
from typing import Any

from trading_platform.exchanges.credentials import Credentials

OFFLINE_SAFE_OPTIONS: dict[str, Any] = {
    "fetchCurrencies": False,
    "fetchMargins": False,
    "fetchMarkets": {"types": ["spot"]},
    "defaultType": "spot",
    # how old a signed request may be when it arrives (Binance and its kin); the live broker
    # relies on it to tell a lost order from one that never arrived
    "recvWindow": 10_000,
}


def api_override(exchange_id: str) -> str | None:
    return os.environ.get(f"TRADING_EXCHANGE_URL_{exchange_id.upper()}")


def make_client(
    exchange_id: str,
    credentials: Credentials | None = None,
    *,
    base_url: str | None = None,
    timeout_ms: int | None = None,
) -> Any:
    """``timeout_ms`` defaults to ``TRADING_EXCHANGE_TIMEOUT_MS`` or 10 s."""
    import ccxt

    if timeout_ms is None:
        timeout_ms = int(os.environ.get("TRADING_EXCHANGE_TIMEOUT_MS", "10000"))
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": dict(OFFLINE_SAFE_OPTIONS),
    }
    if credentials is not None:
        config["apiKey"] = credentials.api_key
        config["secret"] = credentials.secret
        if credentials.password:
            config["password"] = credentials.password
    client = getattr(ccxt, exchange_id)(config)
    base_url = base_url or api_override(exchange_id)
    if base_url:
        api = f"{base_url.rstrip('/')}/api/v3"
        client.urls["api"] = {"public": api, "private": api}
    return client
