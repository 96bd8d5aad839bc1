"""Time from a Telegram command arriving at the Bot API (the local stub) to its reply.

Starts the real code server and daemon (``tests/e2e/harness.py``, the platform's default
settings: ``telegram_commands_sensor`` every 2 s, each tick long-polling 3 s) with a SQLite
bot database, a user with a Telegram id and one running paper bot, then sends N commands
(``/status``, ``/profit``, ``/balance``, ``/health`` in turn) one after the other through the
stub.  Between commands it waits a seeded random 0-6 s, so the commands arrive at every
phase of the daemon's 5-second sensor loop (inside a tick's long poll, or between ticks)
instead of right after the previous reply, when a poll is always open.  Latency: the stub's
clock when the update was injected to when the matching sendMessage arrived.

Goal (issue 12): median at most 5 s at the default settings.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.harness import Platform
from tests.support.notification_stubs import TelegramStub
from tests.support.waiting import wait_for
from trading_platform.db.users import ensure_user

USER = 4242
COMMANDS = ("/status", "/profit", "/balance", "/health")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-gap", type=float, default=6.0)
    args = parser.parse_args()
    spacing = random.Random(args.seed)
    telegram = TelegramStub().start()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        platform = Platform(
            home,
            f"sqlite:///{home / 'trading.db'}",
            platform_defaults=True,
            extra_env={
                "TELEGRAM_BOT_TOKEN": telegram.token,
                "TELEGRAM_API_BASE_URL": telegram.base_url,
            },
        )
        platform.start()
        try:
            user_id = ensure_user(platform.engine, "bench", telegram_user_id=str(USER))
            bot_id = platform.insert_bot("bench-telegram", user_id=user_id)
            wait_for(lambda: platform.bot(bot_id).status == "running", 180, "the bot running")
            # the first answer proves the sensor is serving (its first tick, cold imports)
            telegram.inject_message(USER, "/help")
            wait_for(lambda: telegram.replies_to(USER), 120, "the sensor serving")
            latencies = []
            for n in range(args.commands):
                time.sleep(spacing.uniform(0, args.max_gap))
                command = COMMANDS[n % len(COMMANDS)]
                before = len(telegram.calls("sendMessage"))
                update_id = telegram.inject_message(USER, command)
                wait_for(
                    lambda before=before: len(telegram.calls("sendMessage")) > before,
                    60,
                    f"the reply to {command}",
                    interval=0.05,
                )
                reply = telegram.calls("sendMessage")[before]
                latencies.append(reply.at - telegram.injected_at[update_id])
                print(f"{n + 1:2d} {command:9s} {latencies[-1]:.2f} s", flush=True)
            print(
                f"telegram command -> reply over {len(latencies)} commands (default settings: "
                f"sensor every 2 s, 3 s long polls): median {statistics.median(latencies):.2f} s, "
                f"max {max(latencies):.2f} s (goal: median <= 5 s)"
            )
        finally:
            platform.stop()
            telegram.stop()


if __name__ == "__main__":
    main()
