"""The whole host dies: ``kill -9`` of every Dagster process and run worker at once, then the
platform is started again on the same homes and databases (issue 13).

The real platform (:class:`tests.e2e.harness.Platform`: code server and daemon, as ``make
run``'s ``dagster dev`` runs them, plus ``dagster-webserver``; the platform's default timing:
sensor every 15 s, restart backoff 10 s doubling) runs ``--bots`` paper bots (``sma_cross`` on
the replay market, a bar a second, the default ``heartbeat_interval`` of 60 s) and one live
bot (the ``flip_flop`` test strategy, ``hold`` 1, on one-second candles of the exchange
emulator, real ccxt).  Bot database and Dagster storage are fresh PostgreSQL databases
(``--postgres-url``, default ``$TRADING_TEST_POSTGRES_URL`` or the local server), dropped at
the end, or SQLite files with ``--sqlite``.

Once every bot heartbeats and the live bot has traded, every process group the benchmark
started (daemon, code server, webserver; the run workers are in the code server's group)
gets SIGKILL at the same moment.  The platform is then started again, and it prints:

- **restart -> all heartbeating**: from the restart to the moment every enabled bot has a
  heartbeat newer than the restart (goal: within 2 minutes: PASS/FAIL), with each bot's
  time and the kill -> all heartbeating;
- how the sensor judged the old runs (the status event that ended each: ``run worker gone``,
  or a stale heartbeat) and when;
- **live bot: reconciled before trading**: the new run's reconciliation with the exchange
  (the venue's recovery: the status ``running`` is written only after it, and any
  ``reconciled with the exchange`` correction) and the exchange's own record of the account
  reads of the new run (``openOrders``/``myTrades``/``account``), both before the first order
  of the new lease epoch (client ids ``tp-<bot>-<epoch>-<seq>``) arrived at the emulator;
- **books**: after a clean stop of the live bot, the emulator account and the bot database
  agree (``tests/support/books.py``: every fill once, each order as the exchange has it, no
  client id twice, the position equal to the account's balance).

Run it with ``flock /work/notes/heavy.lock .venv/bin/python benchmarks/host_kill.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from benchmarks.common import checkout_pythonpath, epoch_of, free_port, timestamp
from tests.e2e.harness import BIN, Platform, postgres_databases
from tests.support.books import assert_books_agree
from tests.support.builders import FLIP_FLOP_BOT, FLIP_FLOP_CONFIG
from tests.support.exchange_emulator import Emulator
from trading_platform.contract import UNRESOLVED_ORDER_STATUSES
from trading_platform.db.status import status_events
from trading_platform.db.users import ensure_user

API_KEY, SECRET = "hostkill-key-0001", "hostkill-secret-0001"
GOAL_SECONDS = 120.0
#: account reads a live bot's recovery makes before it trades
RECOVERY_ROUTES = ("/openOrders", "/myTrades", "/account", "/allOrders", "/order")


class Host:
    """The platform's processes as ``make run`` has them: code server, daemon, webserver."""

    def __init__(self, platform: Platform, port: int) -> None:
        self.platform, self.port = platform, port
        self.webserver: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.platform.start()
        self.webserver = self.platform._spawn(
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-w",
                str(self.platform.workspace),
            ],
            self.platform.home / "webserver.log",
        )

    def processes(self) -> list[int]:
        return [pid for g in self.platform.process_groups for pid in Platform.pids_in_group(g)]

    def kill_everything(self) -> tuple[float, int]:
        """SIGKILL every process group at once; returns when, and how many processes."""
        platform = self.platform
        count = len(self.processes())
        at = time.time()
        for pgid in platform.process_groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        for process in (platform.daemon, platform.code_server, self.webserver):
            if process is not None:
                process.wait(timeout=30)
        platform.wait_for(lambda: not self.processes(), 30, "every killed process gone")
        platform.process_groups.clear()
        platform.daemon = platform.code_server = self.webserver = None
        platform.socket.unlink(missing_ok=True)
        return at, count


class ExchangeLog:
    """The emulator's answers with their times: what the live bot asked, and when."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.lock = threading.Lock()
        self.answers: list[tuple[float, str, str]] = []
        emulator.mutate_answer = self._record

    def _record(self, method: str, route: str, payload: Any) -> Any:
        with self.lock:
            self.answers.append((time.time(), method, route))
        return payload

    def orders(self) -> list[tuple[str, float]]:
        with self.emulator.lock:
            account = self.emulator.accounts[API_KEY]
            return [(o.client_order_id, o.time / 1000) for o in account.orders.values()]

    def first_order_after(self, epoch: int) -> tuple[str, float] | None:
        later = [(cid, at) for cid, at in self.orders() if (epoch_of(cid) or 0) > epoch]
        return min(later, key=lambda item: item[1]) if later else None

    def reads_between(self, start: float, end: float) -> list[str]:
        with self.lock:
            return [
                f"{method} {route}"
                for at, method, route in self.answers
                if start <= at < end and method == "GET" and route.startswith(RECOVERY_ROUTES)
            ]


def scalar(platform: Platform, sql: str, **params: Any) -> Any:
    with platform.engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def lease_epoch(platform: Platform, bot_id: int) -> int:
    return int(scalar(platform, "SELECT epoch FROM bot_leases WHERE bot_id = :b", b=bot_id) or 0)


def heartbeats(platform: Platform, ids: list[int]) -> dict[int, float | None]:
    beats = {}
    for bot_id in ids:
        beat = platform.bot(bot_id).last_heartbeat
        beats[bot_id] = timestamp(beat) if beat else None
    return beats


def stop_live_bot(platform: Platform, bot_id: int) -> None:
    """Disable the live bot and wait for a clean stop with no order left in flight."""
    statuses = ", ".join(f"'{s.value}'" for s in UNRESOLVED_ORDER_STATUSES)
    platform.wait_for(
        lambda: (
            not scalar(
                platform,
                f"SELECT count(*) FROM trading_orders WHERE bot_id = :b AND status IN ({statuses})",
                b=bot_id,
            )
        ),
        120,
        "no order of the live bot in flight",
    )
    platform.sql("UPDATE trading_bots SET enabled = false WHERE id = :id", id=bot_id)
    platform.wait_for(lambda: platform.bot(bot_id).status == "stopped", 240, "live bot stopped")
    platform.wait_for(lambda: not platform.active_runs(bot_id), 240, "its run ended")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=10, help="paper bots (besides the live bot)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite for both databases")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TRADING_TEST_POSTGRES_URL")
        or "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument("--goal", type=float, default=GOAL_SECONDS)
    args = parser.parse_args()
    began = time.time()
    emulator = Emulator(candle_seconds=1, history=200, live=True)
    emulator.add_account(API_KEY, SECRET, USDT="1000000")
    emulator.timeout_seconds = 1.5
    emulator.start()
    exchange = ExchangeLog(emulator)
    env = {
        "PYTHONPATH": checkout_pythonpath(),
        "TRADING_EXCHANGE_URL_BINANCE": emulator.url,
        "TRADING_CREDENTIALS_HOSTKILL_API_KEY": API_KEY,
        "TRADING_CREDENTIALS_HOSTKILL_SECRET": SECRET,
    }
    cleanup = None
    backend = "SQLite" if args.sqlite else "PostgreSQL"
    with tempfile.TemporaryDirectory(prefix="host-kill-") as tmp:
        home = Path(tmp)
        if args.sqlite:
            platform = Platform(
                home, f"sqlite:///{home / 'trading.db'}", extra_env=env, platform_defaults=True
            )
        else:
            database_url, dagster_env, cleanup = postgres_databases(args.postgres_url)
            platform = Platform(
                home,
                database_url,
                dagster_postgres=dagster_env,
                extra_env=env,
                platform_defaults=True,
            )
        host = Host(platform, free_port())
        try:
            print(
                f"host_kill: {args.bots} paper bots + 1 live bot (emulator), {backend} for both "
                f"databases, platform defaults (sensor 15 s, backoff 10 s), code server + daemon "
                f"+ webserver on 127.0.0.1:{host.port}",
                flush=True,
            )
            host.start()
            paper = [
                platform.insert_bot(
                    f"paper-{n}",
                    config={
                        "params": {"fast": 3, "slow": 8},
                        "data": {"pace_seconds": 1, "history_bars": 20, "seed": n},
                    },
                )
                for n in range(args.bots)
            ]
            owner = ensure_user(platform.engine, "host-kill-trader")
            config = {**FLIP_FLOP_CONFIG, "params": {"hold": 1}, "credentials": "HOSTKILL"}
            live = platform.insert_bot(
                "live", user_id=owner, **FLIP_FLOP_BOT, mode="live", config=json.dumps(config)
            )
            ids = [*paper, live]
            platform.wait_for(
                lambda: all(heartbeats(platform, ids).values()), 300, "every bot heartbeating"
            )
            platform.wait_for(lambda: exchange.orders(), 300, "the live bot's first order")
            # a moment of steady trading, and every bot's status running
            platform.wait_for(
                lambda: all(platform.bot(i).status == "running" for i in ids),
                120,
                "every bot running",
            )
            time.sleep(5)
            epoch = lease_epoch(platform, live)
            orders_before = len(exchange.orders())
            killed_at, killed = host.kill_everything()
            print(
                f"all bots heartbeating, live bot traded ({orders_before} orders, lease epoch "
                f"{epoch}) {killed_at - began:.0f} s after the start; SIGKILL to {killed} "
                f"processes (daemon, code server, webserver, {len(ids)} run workers)",
                flush=True,
            )

            restarted_at = time.time()
            host.start()
            server_up = time.time()
            beat_at: dict[int, float] = {}

            def all_beating() -> bool:
                for bot_id, beat in heartbeats(platform, ids).items():
                    if beat is not None and beat > restarted_at and bot_id not in beat_at:
                        beat_at[bot_id] = time.time()
                return len(beat_at) == len(ids)

            platform.wait_for(all_beating, 600, "every bot heartbeating after the restart")
            all_at = max(beat_at.values())
            platform.wait_for(
                lambda: exchange.first_order_after(epoch), 300, "the live bot trading again"
            )
            report(platform, exchange, ids, live, epoch, killed_at, restarted_at, server_up)
            recovery = all_at - restarted_at
            verdict = "PASS" if recovery <= args.goal else "FAIL"
            print(
                f"restart -> every enabled bot heartbeating: {recovery:.1f} s ({verdict}, goal "
                f"{args.goal:.0f} s); kill -> all heartbeating {all_at - killed_at:.1f} s; "
                f"restart -> code server answering {server_up - restarted_at:.1f} s",
                flush=True,
            )
            stop_live_bot(platform, live)
            try:
                assert_books_agree(emulator, API_KEY, platform.engine, live)
                books = "agree (every fill once, orders as at the exchange, no client id twice, "
                books += "position = account balance)"
            except (AssertionError, KeyError) as exc:
                books = f"DISAGREE: {type(exc).__name__}: {exc}"
            ids_at_exchange = [cid for cid, _ in exchange.orders()]
            print(
                f"books: {books}; orders at the exchange {len(ids_at_exchange)}, distinct "
                f"client ids {len(set(ids_at_exchange))}; {(time.time() - began) / 60:.1f} min "
                f"in all ({backend})",
                flush=True,
            )
        finally:
            platform.stop()
            platform.engine.dispose()
            emulator.stop()
            if cleanup is not None:
                cleanup()


def report(
    platform: Platform,
    exchange: ExchangeLog,
    ids: list[int],
    live: int,
    epoch: int,
    killed_at: float,
    restarted_at: float,
    server_up: float,
) -> None:
    """How each bot came back, and whether the live bot reconciled before it traded."""
    ended: dict[str, int] = {}
    ended_after: list[float] = []
    restarts = []
    for bot_id in ids:
        events = [e for e in status_events(platform.engine, bot_id) if timestamp(e.at) > killed_at]
        judged = next(
            (e for e in events if e.run_id is None or "restart" in (e.reason or "")), None
        )
        if judged is not None:
            key = re.sub(r"\d+", "N", (judged.reason or "")[:70])
            ended[key] = ended.get(key, 0) + 1
            ended_after.append(timestamp(judged.at) - restarted_at)
        restarts.append(platform.bot(bot_id).restart_count)
    print(f"how the sensor ended the old runs: {ended or 'no event'}")
    if ended_after:
        print(
            f"restart -> old runs judged: first {min(ended_after):.1f} s, last "
            f"{max(ended_after):.1f} s; restart_count after: {sorted(set(restarts))}"
        )
    first = exchange.first_order_after(epoch)
    assert first is not None
    cid, order_at = first
    events = [e for e in status_events(platform.engine, live) if timestamp(e.at) > restarted_at]
    running = next((e for e in events if e.to_status == "running"), None)
    corrections = [e for e in events if "reconciled with the exchange" in (e.reason or "")]
    reads = exchange.reads_between(restarted_at, order_at)
    running_at = timestamp(running.at) if running is not None else None
    reconciled = running_at is not None and running_at <= order_at and bool(reads)
    print(
        f"live bot: first order of the new epoch {cid} {order_at - restarted_at:.1f} s after "
        f"the restart; its run's recovery ended (status running) "
        + (f"{running_at - restarted_at:.1f} s after the restart" if running_at else "never")
        + f"; corrections {len(corrections)}; account reads at the exchange before that order: "
        f"{len(reads)} ({', '.join(sorted(set(reads)))}); reconciled before trading: "
        f"{'YES' if reconciled else 'NO'}",
        flush=True,
    )
    for event in corrections:
        print(f"    {event.reason}")


if __name__ == "__main__":
    main()
