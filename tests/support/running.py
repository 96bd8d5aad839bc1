"""A :class:`~trading_platform.engine.runner.BotRunner` on a thread, as a ``bot_run`` op runs
it, keeping what it raised for the test to inspect."""

from __future__ import annotations

import threading

from trading_platform.engine.runner import BotRunner


class RunnerThread:
    def __init__(self, runner: BotRunner) -> None:
        self.runner = runner
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            self.error = exc

    def stop(self) -> None:
        self.runner.request_stop()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "the bot did not stop"
