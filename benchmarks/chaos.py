"""Money safety under chaos: a live bot, random exchange faults and ``kill -9`` of its worker.

The real platform (code server, daemon, run workers; :class:`tests.e2e.harness.Platform`)
runs one live bot (the ``flip_flop`` test strategy, ``hold`` 1: a buy or a sell every bar or
two) on one-second candles of the exchange emulator, through the real ccxt client, with the
platform's DEFAULT timing: sensor every 15 s, restart backoff 10 s doubling to 300 s, the
bot's ``heartbeat_interval`` left at its default (60 s).  The one per-bot setting changed is
``max_restarts`` (100 instead of 5): each kill, and each run that fails on its own under the
faults, is a failure within ``restart_window`` (3600 s, unchanged), and the benchmark must not
end in ``RESTARTS_EXHAUSTED``.  The backoff still doubles with every failure, as it would in
production, so a kill late in the run waits longer than the first; the backoff the sensor
announced is printed beside each kill, and the failures no kill caused with their reasons.

While the bot trades, a controller thread draws faults from a seeded ``random.Random`` every
second: an order answer lost after the order executed (``lost``), handled after the client
gave up (``late``) or never handled (``timeout``); and every 10 s a new regime: random
timeouts/429/500 on ``--fault-rate`` (0, 1x or 2x) of all requests, trades visible in
``myTrades`` only 0-4 s after they happened, order answers with or without their fills, and
market orders filled in one or two fills.  ``--kills`` times, spread over the run (never in
its first minute, never before the bot traded again after the previous kill, at a random
moment), the bot's run worker gets SIGKILL.  At the end the faults stop, the bot is disabled
(a clean stop) and restarted once more if an order was left unresolved, then the books are
compared.

Definitions (what is printed):

- **signal**: a strategy decision the broker wrote ahead, i.e. one ``trading_orders`` row.
  (An order refused before the write-ahead, e.g. on a stale price, is no signal.)
- **order received**: one order in the emulator account (``accounts[key].orders``).
- a row is **rejected as not arrived** when its status is ``rejected`` (the broker concluded
  the order never arrived, or the exchange refused it); it must have no order at the
  exchange.  One that has is **rejected but at the exchange** (a money-safety violation).
- **expected orders** = signals - rows rejected with no order at the exchange: the rows
  that must have exactly one order at the exchange.
- **doubles**: exchange orders whose client id is not in ``trading_orders`` (**unknown to the
  ledger**) plus every exchange order beyond the first for one row.
- **missing**: rows not rejected that have no order at the exchange (a ledger row that claims
  an order the exchange never received).
- **orders received per signal** = orders received / expected orders.  It is 1.00 exactly when
  every row either has one order at the exchange or was rejected with none, and nothing else
  reached the exchange; the doubles, unknown, missing and rejected-but-at-the-exchange counts
  are printed with it, so a double and a missing order cannot cancel out unnoticed.
- **fills**: the account's trades against ``trading_trades`` rows of the bot, by trade id
  (``fill_id``), with the ids missing on either side and amount/price mismatches.
- **position difference**: the account's base (BTC) balance minus ``trading_positions.size``
  after the clean stop, with no order left unresolved.
- **kill -> trading again**: from the SIGKILL to the first order of a later lease epoch
  arriving at the exchange (client ids are ``tp-<bot>-<epoch>-<seq>``); printed beside the
  kill -> failure detected by the sensor, -> new run started (lease acquired) and -> status
  ``running`` (recovered, trading).  Goal (issue "Money safety"): median <= 60 s.

Goals: orders received per signal 1.00 with no double; fills equal, none missing; position
difference 0.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from benchmarks.common import checkout_pythonpath, epoch_of, timestamp
from tests.e2e.harness import Platform, postgres_databases
from tests.support.builders import FLIP_FLOP_BOT, FLIP_FLOP_CONFIG
from tests.support.exchange_emulator import Emulator
from trading_platform.contract import UNRESOLVED_ORDER_STATUSES
from trading_platform.db.orders import bot_orders
from trading_platform.db.positions import get_position
from trading_platform.db.status import status_events
from trading_platform.db.trades import bot_trades
from trading_platform.db.users import ensure_user

API_KEY, SECRET = "chaos-key-0001", "chaos-secret-0001"
SYMBOL = "BTC/USDT"
#: probability per second that the next order request gets one of these faults
ORDER_FAULT_WEIGHTS = {"lost": 6, "late": 2, "timeout": 2}
REGIME_SECONDS = 10
TRADE_DELAYS = [0.0, 0.0, 1.0, 2.0, 4.0]
PARTIAL_FRACTION = Decimal("0.37")
#: per regime: order answers without their fills (the broker must fetch them)
P_ANSWER_WITHOUT_FILLS = 0.2
#: per-bot ``max_restarts``: kills and runs failing under the faults must not exhaust it
MAX_RESTARTS = 100
#: no kill in the bot's first minute of trading, nor this soon after it traded again
FIRST_KILL_AFTER = 60.0
TRADING_BEFORE_NEXT_KILL = 20.0


class Chaos(threading.Thread):
    """Draws the emulator's faults every second from a seeded random generator."""

    def __init__(self, emulator: Emulator, rng: random.Random, fault_rate: float, p_order: float):
        super().__init__(daemon=True)
        self.emulator, self.rng = emulator, rng
        self.fault_rate, self.p_order = fault_rate, p_order
        self.stopped = threading.Event()
        self.counts: collections.Counter[str] = collections.Counter()

    def run(self) -> None:
        emulator, rng = self.emulator, self.rng
        kinds, weights = list(ORDER_FAULT_WEIGHTS), list(ORDER_FAULT_WEIGHTS.values())
        second = 0
        while not self.stopped.wait(1.0):
            with emulator.lock:
                if rng.random() < self.p_order and not emulator.order_faults:
                    kind = rng.choices(kinds, weights)[0]
                    emulator.order_faults.append(kind)
                    self.counts[f"order fault {kind} queued"] += 1
                if second % REGIME_SECONDS == 0:
                    emulator.fault_rate = self.fault_rate * rng.choice([0, 1, 2])
                    emulator.trade_delay_seconds = rng.choice(TRADE_DELAYS)
                    emulator.answer_fills = rng.random() >= P_ANSWER_WITHOUT_FILLS
                    emulator.partial_fill_fraction = (
                        PARTIAL_FRACTION if rng.random() < 0.4 else Decimal(1)
                    )
            second += 1

    def calm(self) -> None:
        """Stop drawing faults and clear every one still queued."""
        self.stopped.set()
        self.join(timeout=5)
        emulator = self.emulator
        with emulator.lock:
            emulator.fault_rate = 0.0
            emulator.order_faults.clear()
            emulator.cancel_faults.clear()
            emulator.trade_delay_seconds = 0.0
            emulator.answer_fills = True
            emulator.partial_fill_fraction = Decimal(1)


class Bench:
    def __init__(self, platform: Platform, emulator: Emulator, bot_id: int) -> None:
        self.platform, self.emulator, self.bot_id = platform, emulator, bot_id

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.platform.engine.connect() as connection:
            return connection.execute(text(sql), {"bot": self.bot_id, **params}).scalar()

    def signals(self) -> int:
        return self.scalar("SELECT count(*) FROM trading_orders WHERE bot_id = :bot")

    def unresolved(self) -> int:
        statuses = ", ".join(f"'{s.value}'" for s in UNRESOLVED_ORDER_STATUSES)
        return self.scalar(
            f"SELECT count(*) FROM trading_orders WHERE bot_id = :bot AND status IN ({statuses})"
        )

    def status(self) -> str:
        return self.platform.bot(self.bot_id).status

    def exchange_orders(self) -> list[tuple[str, float]]:
        """(client id, arrival time) of every order in the account."""
        with self.emulator.lock:
            account = self.emulator.accounts[API_KEY]
            return [(o.client_order_id, o.time / 1000) for o in account.orders.values()]

    def first_order_after(self, epoch: int) -> float | None:
        times = [at for cid, at in self.exchange_orders() if (epoch_of(cid) or 0) > epoch]
        return min(times) if times else None

    def lease(self) -> tuple[int, str | None] | None:
        with self.platform.engine.connect() as connection:
            row = connection.execute(
                text("SELECT epoch, holder_run_id FROM bot_leases WHERE bot_id = :bot"),
                {"bot": self.bot_id},
            ).first()
        return (row.epoch, row.holder_run_id) if row else None

    def wait(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        return self.platform.wait_for(condition, timeout, what, interval=0.5)


def kill_run_worker(bench: Bench) -> dict[str, Any] | None:
    """SIGKILL the worker of the bot's STARTED run holding the lease; None if there is none
    at this moment (try again later)."""
    platform = bench.platform
    runs = [r for r in platform.active_runs(bench.bot_id) if r.status.value == "STARTED"]
    if len(runs) != 1 or bench.status() != "running":
        return None
    run = runs[0]
    lease = bench.lease()
    pid = platform.run_worker_pid(run.run_id)
    if lease is None or lease[1] != run.run_id or pid is None:
        return None
    try:  # only a process of the platform this benchmark started
        if os.getpgid(pid) not in platform.process_groups:
            return None
    except ProcessLookupError:
        return None
    in_flight = bench.unresolved()
    signals = bench.signals()
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)
    return {
        "at": killed_at,
        "pid": pid,
        "run_id": run.run_id,
        "epoch": lease[0],
        "signals": signals,
        "unresolved": in_flight,
    }


def recovery(bench: Bench, kill: dict[str, Any]) -> dict[str, float | None]:
    """Seconds from the kill to: failure detected, new run started, running, first order."""
    after = [
        e
        for e in status_events(bench.platform.engine, bench.bot_id)
        if timestamp(e.at) >= kill["at"]
    ]
    detected = next(
        (e for e in after if re.search(r"restart \d+/\d+", e.reason or "")),
        None,
    )
    started = next(
        (
            e
            for e in after
            if e.run_id not in (None, kill["run_id"]) and "run started" in (e.reason or "")
        ),
        None,
    )
    running = next(
        (e for e in after if e.run_id not in (None, kill["run_id"]) and e.to_status == "running"),
        None,
    )
    first_order = bench.first_order_after(kill["epoch"])
    backoff = re.search(r"in (\d+) s", detected.reason or "") if detected else None

    def since(at: float | None) -> float | None:
        return None if at is None else at - kill["at"]

    kill["how"] = (detected.reason or "")[:90] if detected else "not detected"
    return {
        "detected": since(timestamp(detected.at)) if detected else None,
        "backoff": float(backoff[1]) if backoff else None,
        "started": since(timestamp(started.at)) if started else None,
        "running": since(timestamp(running.at)) if running else None,
        "order": since(first_order),
    }


def stop_cleanly(bench: Bench) -> None:
    platform = bench.platform
    platform.sql("UPDATE trading_bots SET enabled = false WHERE id = :id", id=bench.bot_id)
    bench.wait(lambda: bench.status() == "stopped", 240, "the bot stopped")
    bench.wait(lambda: not platform.active_runs(bench.bot_id), 240, "its run ended")


def settle(bench: Bench) -> int:
    """Stop the bot cleanly with every order resolved; a bot stopped with an order left
    unresolved is started again (its recovery resolves it at the exchange) and stopped
    again.  Returns how many settling restarts it took."""
    bench.wait(lambda: bench.status() == "running", 600, "the bot running before the stop")
    bench.wait(lambda: bench.unresolved() == 0, 120, "no order in flight")
    stop_cleanly(bench)
    restarts = 0
    while bench.unresolved() and restarts < 3:
        restarts += 1
        print(f"{bench.unresolved()} order(s) unresolved after the stop: restarting to settle")
        bench.platform.sql("UPDATE trading_bots SET enabled = true WHERE id = :id", id=bench.bot_id)
        bench.wait(lambda: bench.status() == "running", 600, "the settling run running")
        bench.wait(lambda: bench.unresolved() == 0, 120, "no order in flight")
        stop_cleanly(bench)
    return restarts


def books(bench: Bench) -> dict[str, Any]:
    """Everything the figures are made of, from the emulator account and the bot database."""
    emulator, engine = bench.emulator, bench.platform.engine
    with emulator.lock:
        account = emulator.accounts[API_KEY]
        exchange_orders = list(account.orders.values())
        exchange_trades = list(account.trades)
        base = account.balances.get(emulator.base, Decimal(0))
    rows = bot_orders(engine, bench.bot_id)
    by_client: dict[str, list[Any]] = collections.defaultdict(list)
    for order in exchange_orders:
        by_client[order.client_order_id].append(order)
    row_ids = {row.client_order_id for row in rows}
    rejected_absent = [
        r for r in rows if r.status == "rejected" and r.client_order_id not in by_client
    ]
    rejected_present = [
        r for r in rows if r.status == "rejected" and r.client_order_id in by_client
    ]
    missing = [r for r in rows if r.status != "rejected" and r.client_order_id not in by_client]
    unknown = [o for o in exchange_orders if o.client_order_id not in row_ids]
    same_row = sum(len(orders) - 1 for cid, orders in by_client.items() if cid in row_ids)
    filled_differs = [
        r
        for r in rows
        if r.client_order_id in by_client
        and (r.filled or 0) != sum(o.executed for o in by_client[r.client_order_id])
    ]
    trades = bot_trades(engine, bench.bot_id)
    exchange_fills = {str(t["id"]): t for t in exchange_trades}
    recorded = collections.Counter(t.fill_id for t in trades)
    fill_differs = [
        t
        for t in trades
        if t.fill_id in exchange_fills
        and (
            t.amount != Decimal(exchange_fills[t.fill_id]["qty"])
            or t.price != Decimal(exchange_fills[t.fill_id]["price"])
        )
    ]
    position = get_position(engine, bench.bot_id, SYMBOL)
    return {
        "signals": len(rows),
        "statuses": collections.Counter(r.status for r in rows),
        "orders": len(exchange_orders),
        "rejected_absent": rejected_absent,
        "rejected_present": rejected_present,
        "missing": missing,
        "unknown": unknown,
        "same_row": same_row,
        "filled_differs": filled_differs,
        "exchange_fills": len(exchange_fills),
        "recorded_fills": len(trades),
        "fills_twice": [fid for fid, n in recorded.items() if n > 1],
        "not_recorded": sorted(set(exchange_fills) - set(recorded)),
        "not_at_exchange": sorted(set(recorded) - set(exchange_fills)),
        "fill_differs": fill_differs,
        "base": base,
        "position": None if position is None else position.size,
    }


def seconds(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "n/a"
    text_ = f"median {statistics.median(known):.1f} s, max {max(known):.1f} s"
    return text_ + (f" ({len(values) - len(known)} never)" if len(known) < len(values) else "")


def report(
    bench: Bench, b: dict[str, Any], kills: list[dict[str, Any]], chaos: Chaos, extra: str
) -> None:
    expected = b["signals"] - len(b["rejected_absent"])
    doubles = len(b["unknown"]) + b["same_row"]
    print()
    print(f"=== chaos: {extra}")
    print(
        f"signals (trading_orders rows): {b['signals']}; by status: "
        + ", ".join(f"{k} {v}" for k, v in sorted(b["statuses"].items()))
    )
    print(
        f"rows rejected with no order at the exchange (never arrived or refused): "
        f"{len(b['rejected_absent'])}; expected orders: {expected}"
    )
    ratio = b["orders"] / expected if expected else float("nan")
    print(
        f"orders received: {b['orders']}; orders received per signal: {ratio:.4f} "
        f"({b['orders']}/{expected}; goal 1.00)"
    )
    print(
        f"doubles: {doubles} (unknown to the ledger {len(b['unknown'])}, second order for a "
        f"row {b['same_row']}); rejected but at the exchange: {len(b['rejected_present'])}; "
        f"rows missing at the exchange: {len(b['missing'])}; rows whose filled differs from "
        f"the exchange's: {len(b['filled_differs'])}"
    )
    for row in b["rejected_present"] + b["missing"] + b["filled_differs"]:
        print(f"  row {row.client_order_id}: status {row.status}, filled {row.filled}")
    for order in b["unknown"]:
        print(f"  exchange order {order.order_id} {order.client_order_id} unknown to the ledger")
    print(
        f"fills: exchange {b['exchange_fills']}, trading_trades {b['recorded_fills']} "
        f"(goal equal); not recorded: {len(b['not_recorded'])} {b['not_recorded'][:10]}; "
        f"recorded but not at the exchange: {len(b['not_at_exchange'])} "
        f"{b['not_at_exchange'][:10]}; recorded twice: {len(b['fills_twice'])}; "
        f"amount/price differs: {len(b['fill_differs'])}"
    )
    position = b["position"]
    difference = "n/a" if position is None else f"{(b['base'] - position).normalize():f}"
    print(
        f"position: exchange BTC balance {b['base'].normalize():f}, trading_positions {position}, "
        f"difference {difference} (goal 0)"
    )
    events = status_events(bench.platform.engine, bench.bot_id)
    killed = {k["run_id"] for k in kills}
    failed = [
        e
        for e in events
        if e.to_status == "error" and e.run_id not in killed and e.run_id is not None
    ]
    print(f"runs that failed on their own (no kill): {len(failed)}")
    for event in failed:
        print(f"  {event.at:%H:%M:%S} run {(event.run_id or '')[:8]}: {(event.reason or '')[:160]}")

    def count(word: str) -> int:
        return sum(word in (e.reason or "") for e in events)

    print(
        f"status events: failures the sensor counted {count('; restart ')}, orders refused on "
        f"a stale price {count('stale price')}, fill gaps (no new positions until recorded) "
        f"{count('no new positions until they are recorded')}, restart corrections "
        f"{count('reconciled with the exchange')}, drift {count('drift')}"
    )
    rec = [k["recovery"] for k in kills]
    print(f"kills: {len(kills)}")
    for n, (kill, r) in enumerate(zip(kills, rec, strict=True), 1):
        fmt = {k: ("-" if v is None else f"{v:.1f} s") for k, v in r.items()}
        print(
            f"  kill {n}: pid {kill['pid']} epoch {kill['epoch']} at signal {kill['signals']} "
            f"({kill['unresolved']} order(s) unresolved); detected {fmt['detected']} "
            f"(backoff {fmt['backoff']}), new run started {fmt['started']}, running "
            f"{fmt['running']}, first order {fmt['order']}"
        )
        print(f"    detected as: {kill['how']}")
    if kills:
        print(f"kill -> first order of the new run: {seconds([r['order'] for r in rec])}")
        running = seconds([r["running"] for r in rec])
        print(f"kill -> new run running (lease acquired, recovered): {running}")
        print(f"kill -> failure detected by the sensor: {seconds([r['detected'] for r in rec])}")
        print("goal: kill -> trading again, median <= 60 s")
    faults = ", ".join(f"{k} {v}" for k, v in sorted(chaos.counts.items()))
    print(f"faults drawn: {faults} (lost executed: answers lost after the order executed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=500)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.03,
        help="random timeout/429/500 on this fraction of requests (0, 1x or 2x per 10 s)",
    )
    parser.add_argument(
        "--order-fault-rate",
        type=float,
        default=0.05,
        help="per second: probability that the next order request is lost/late/timed out",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TRADING_TEST_POSTGRES_URL"),
        help="server for --backend postgresql (default: $TRADING_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--max-minutes", type=float, default=45.0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    began = time.time()

    emulator = Emulator(candle_seconds=1, history=200, live=True)
    emulator.add_account(API_KEY, SECRET, USDT="1000000")
    emulator.timeout_seconds = 1.5
    emulator.random = random.Random(args.seed + 1)
    emulator.start()
    chaos = Chaos(emulator, random.Random(args.seed + 2), args.fault_rate, args.order_fault_rate)
    emulator.on_lost_answer = lambda: chaos.counts.update(["lost executed"])
    env = {
        # the run workers import the package of this checkout, whatever is installed
        "PYTHONPATH": checkout_pythonpath(),
        "TRADING_EXCHANGE_URL_BINANCE": emulator.url,
        "TRADING_CREDENTIALS_CHAOS_API_KEY": API_KEY,
        "TRADING_CREDENTIALS_CHAOS_SECRET": SECRET,
    }
    cleanup = None
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        home = Path(tmp)
        if args.backend == "postgresql":
            if not args.postgres_url:
                parser.error(
                    "--backend postgresql needs --postgres-url or TRADING_TEST_POSTGRES_URL"
                )
            database_url, dagster_env, cleanup = postgres_databases(args.postgres_url)
            platform = Platform(
                home,
                database_url,
                dagster_postgres=dagster_env,
                extra_env=env,
                platform_defaults=True,
            )
        else:
            platform = Platform(
                home, f"sqlite:///{home / 'trading.db'}", extra_env=env, platform_defaults=True
            )
        platform.start()
        kills: list[dict[str, Any]] = []
        try:
            owner = ensure_user(platform.engine, "chaos-trader")
            config = {
                **FLIP_FLOP_CONFIG,
                "params": {"hold": 1},
                "credentials": "CHAOS",
                "max_restarts": MAX_RESTARTS,
            }
            bot_id = platform.insert_bot(
                "chaos", user_id=owner, **FLIP_FLOP_BOT, mode="live", config=json.dumps(config)
            )
            bench = Bench(platform, emulator, bot_id)
            print(
                f"chaos: {args.signals} signals, {args.kills} kills, seed {args.seed}, fault rate "
                f"{args.fault_rate} (0/1x/2x), order faults {args.order_fault_rate}/s, backend "
                f"{args.backend}; platform defaults (sensor 15 s, backoff 10 s doubling, "
                f"heartbeat_interval 60 s), max_restarts {config['max_restarts']}",
                flush=True,
            )
            bench.wait(lambda: bench.signals() > 0, 300, "the first signal")
            trading_since = time.time()
            (run,) = platform.active_runs(bot_id)
            pid = platform.run_worker_pid(run.run_id)
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if pid else []
            paths = [e.decode() for e in environ if e.startswith(b"PYTHONPATH=")]
            cwd = os.readlink(f"/proc/{pid}/cwd") if pid else "?"
            print(
                f"first signal after {trading_since - began:.0f} s; "
                f"run worker {pid}: cwd {cwd}, {paths}"
            )
            chaos.start()
            segment = args.signals / (args.kills + 1)
            targets = [
                segment * (n + 1) + rng.uniform(-0.4, 0.4) * segment for n in range(args.kills)
            ]
            deadline = began + args.max_minutes * 60
            last_progress = 0.0
            recovered_at = trading_since
            while True:
                now = time.time()
                signals = bench.signals()
                if signals >= args.signals:
                    break
                if now > deadline:
                    print(f"!!! out of time ({args.max_minutes} min) at {signals} signals")
                    break
                if kills and kills[-1].get("back") is None:
                    back = bench.first_order_after(kills[-1]["epoch"])
                    if back is not None:
                        kills[-1]["back"] = recovered_at = back
                        print(
                            f"  trading again {back - kills[-1]['at']:.1f} s after kill "
                            f"{len(kills)}",
                            flush=True,
                        )
                elif (
                    len(kills) < len(targets)
                    and signals >= targets[len(kills)]
                    and now - trading_since >= FIRST_KILL_AFTER
                    and now - recovered_at >= TRADING_BEFORE_NEXT_KILL
                ):
                    time.sleep(rng.uniform(0, 2))  # a random phase of the bar
                    kill = kill_run_worker(bench)
                    if kill is not None:
                        kills.append(kill)
                        print(
                            f"kill {len(kills)}: SIGKILL pid {kill['pid']} at signal "
                            f"{kill['signals']} ({kill['unresolved']} unresolved), "
                            f"{kill['at'] - began:.0f} s into the run",
                            flush=True,
                        )
                if now - last_progress >= 60:
                    last_progress = now
                    bot = platform.bot(bot_id)
                    print(
                        f"[{now - began:5.0f} s] signals {signals}, orders "
                        f"{len(bench.exchange_orders())}, status {bot.status}, "
                        f"restarts {bot.restart_count}, drift {bot.drift!r}",
                        flush=True,
                    )
                time.sleep(0.5)
            chaos.calm()
            settled_at = time.time()
            restarts = settle(bench)
            for kill in kills:
                kill["recovery"] = recovery(bench, kill)
            b = books(bench)
            bot = platform.bot(bot_id)
            total, chaotic = (time.time() - began) / 60, (settled_at - trading_since) / 60
            summary = (
                f"{total:.1f} min in all (chaos {chaotic:.1f} min, stop and settle "
                f"{time.time() - settled_at:.0f} s, settling restarts {restarts}); bot status "
                f"{bot.status}, restart_count {bot.restart_count}, drift {bot.drift!r}; "
                f"backend {args.backend}, seed {args.seed}"
            )
            report(bench, b, kills, chaos, summary)
        finally:
            chaos.stopped.set()
            platform.stop()
            platform.engine.dispose()
            emulator.stop()
            if cleanup is not None:
                cleanup()


if __name__ == "__main__":
    main()
