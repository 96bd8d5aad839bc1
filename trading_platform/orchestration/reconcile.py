"""The lifecycle rules of ``design.md`` as a pure function: table + runs -> actions.

``trading_bots_sensor`` gathers its inputs (one query for the bots, one for the active runs),
calls :func:`reconcile`, and carries out the :class:`Plan`.  Keeping the rules free of I/O
makes every rule testable on its own and keeps the sensor a thin layer.

Per-bot memory between ticks (:class:`BotMemory`) lives in the sensor cursor, so it survives
daemon restarts: the config hash last seen, the incarnation (run keys are never reused, so
each launch needs a new one), the failures since the last config change, when a restart
is due, and whether the bot gave up or (backtests) completed.  :class:`PlatformMemory`, in
the same cursor, remembers the platform: when the last tick completed, and any outage.

Restarts.  A failure (the run failed, or its heartbeat went stale) counts toward
``max_restarts`` and the backoff for ``restart_window`` seconds (default 1 h): more than
``max_restarts`` failures within the window and the bot gives up (status ``error``) until its
config changes or it is re-enabled; incidents further apart never add up.  The backoff
doubles with each failure of a run that did not stay up :data:`STABLE_RUN_SECONDS` (a crash
loop); after a run that did, it starts again at its first step.

Dead workers.  A STARTED run whose worker process is gone (it holds its bot's lease and
names a process of the sensor's host that no longer exists: ``kill -9``, the OOM killer) is
cancelled and counted as a failure at the next tick (:mod:`~trading_platform.processes`);
on other hosts the heartbeat rule below decides.

Hung runs.  A STARTED run is hung when it has gone a stale limit without a heartbeat: the
bot's ``heartbeat_interval`` x ``TRADING_STALE_HEARTBEAT_FACTOR`` (3), never less than
:data:`MIN_STALE_SECONDS` (60 s, above SQLite's 30 s busy timeout).  A run younger than its
limit is not judged.  Two rules keep an outage of the platform from being blamed on each bot:

- Sensor gap: if no tick completed for 60 s, or three sensor intervals if longer (the
  database could not be read, the daemon was down), the sensor did not see the heartbeats of
  that time: every run gets a full stale limit from now before it is judged.  This covers a
  single bot too.
- All stale at once: when at least two bots have a run old enough to judge and every one of
  them is stale, the database (not each bot) is presumed down or locked: nothing is
  cancelled nor counted, a warning is logged, and every run gets one more stale limit from
  that moment.  A heartbeat resuming ends the outage (the others keep that grace); if every
  judged run is still stale after it (a dead code server leaves runs STARTED for good), they
  are cancelled and relaunched, still without counting a failure while all are stale.  A
  single running bot cannot be told from an outage, so it is judged alone.

Status writes.  The sensor decides on the rows it read at the start of a tick while runs
write their own status; so every status it writes is a compare-and-set on the status it
read (``StatusChange.only_from``), and a restart-count reset writes the counter alone.  An
``error`` that lost such a race is written again once no run holds the bot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dagster import DagsterRunStatus

from trading_platform.config import BotConfig
from trading_platform.contract import BotStatus, Mode, NotificationType
from trading_platform.db.bots import BotRow
from trading_platform.engine.heartbeat import MIN_STALE_SECONDS, stale_limit_seconds
from trading_platform.errors import ConfigError

CANCELING = DagsterRunStatus.CANCELING

__all__ = ["MIN_STALE_SECONDS"]  # the floor of every stale limit (engine/heartbeat.py)


@dataclass(frozen=True)
class ActiveRun:
    run_id: str
    bot_id: int
    config_hash: str
    status: DagsterRunStatus
    incarnation: int
    started_at: dt.datetime | None = None
    #: its worker process is known to be gone (killed, crashed) while Dagster says STARTED
    worker_gone: bool = False


@dataclass(frozen=True)
class EndedRun:
    """How a bot's newest run ended; ``fatal``: failed in a way a restart cannot fix (the run
    tagged itself ``RunTag.FATAL`` and recorded the error)."""

    status: DagsterRunStatus
    fatal: bool = False


@dataclass
class BotMemory:
    config_hash: str = ""
    incarnation: int = 0
    launched_key: str | None = None
    #: when the current run was launched (how long it stayed up, when it fails)
    launched_at: float | None = None
    #: failures in a row of runs that did not stay up STABLE_RUN_SECONDS: the backoff's step
    streak: int = 0
    failures: list[float] = field(default_factory=list)
    retry_at: float | None = None
    gave_up: bool = False
    exhausted: str = ""  # why it gave up after max_restarts: the status ``error`` says it
    completed: bool = False
    invalid_reported: bool = False

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value not in (None, [], False)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BotMemory:
        return cls(**data)


@dataclass
class PlatformMemory:
    """What the sensor remembers of the platform as a whole (see the module docstring)."""

    last_tick: float | None = None  # when the previous tick completed
    watching_since: float = 0.0  # heartbeats older than this are not held against a run
    outage_since: float | None = None  # when every judged run was found stale at once

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlatformMemory:
        return cls(**data)


@dataclass(frozen=True)
class Watch:
    """How this tick judges heartbeats: not against a run before ``since``; ``outage``: every
    judged run is stale at once, so a stale run is relaunched without counting a failure."""

    since: float
    outage: bool


@dataclass(frozen=True)
class Launch:
    bot_id: int
    config: BotConfig
    incarnation: int
    run_key: str
    restart: bool


@dataclass(frozen=True)
class Cancel:
    run_id: str
    bot_id: int
    reason: str


@dataclass(frozen=True)
class StatusChange:
    """A write to a bot's observed columns.

    ``status`` None: only ``restart_count`` is written (the status belongs to the run).
    ``only_from`` is the status the sensor read with every change it plans: the write is a
    compare-and-set, so a status a run wrote after the sensor's read is never overwritten
    (the next tick judges the new one)."""

    bot_id: int
    status: BotStatus | None
    reason: str
    error: str | None = None
    restart_count: int | None = None
    only_from: tuple[BotStatus, ...] | None = None
    notify: NotificationType | None = None  # when an operator must hear of it
    dedupe_key: str | None = None  # names the event, so it is notified once
    bot_name: str = ""


@dataclass
class Plan:
    launches: list[Launch] = field(default_factory=list)
    cancels: list[Cancel] = field(default_factory=list)
    status_changes: list[StatusChange] = field(default_factory=list)
    memory: dict[int, BotMemory] = field(default_factory=dict)
    platform: PlatformMemory = field(default_factory=PlatformMemory)
    warnings: list[str] = field(default_factory=list)  # for the operator, in the tick's log
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def summary(self) -> str:
        keys = ("seen", "launched", "reloaded", "restarted", "stopped", "invalid", "gave_up")
        return ", ".join(f"{key}={self.counts.get(key, 0)}" for key in keys)


@dataclass(frozen=True)
class Policy:
    """Restart and health settings (``PlatformSettings`` fills them from the environment)."""

    backoff_seconds: float = 10.0
    backoff_max_seconds: float = 300.0
    stale_heartbeat_factor: float = 3.0
    sensor_interval_seconds: float = 15.0  # TRADING_SENSOR_INTERVAL_SECONDS

    def sensor_gap(self) -> float:
        """Seconds without a completed tick after which the sensor has missed heartbeats:
        the stale floor, or three tick intervals for a sensor that ticks slower than that."""
        return max(MIN_STALE_SECONDS, 3 * self.sensor_interval_seconds)

    def backoff(self, failures: int) -> float:
        return min(self.backoff_seconds * 2 ** max(failures - 1, 0), self.backoff_max_seconds)


#: a run that stayed up this long proved the bot sound: the backoff after its failure starts
#: again at the first step (as Kubernetes resets CrashLoopBackOff), while ``max_restarts``
#: still counts every failure within ``restart_window``
STABLE_RUN_SECONDS = 300.0


def run_key(bot_id: int, config_hash: str, incarnation: int) -> str:
    return f"bot-{bot_id}-{config_hash[:12]}-{incarnation}"


#: how the newest run of a bot ended (``None``: it has none)
EndedRunLookup = Callable[[int], EndedRun | None]


def reconcile(
    bots: Sequence[BotRow],
    validated: dict[int, tuple[str, BotConfig | ConfigError]],
    active_runs: Sequence[ActiveRun],
    memory: dict[int, BotMemory],
    *,
    now: dt.datetime,
    policy: Policy,
    last_run_status: EndedRunLookup,
    platform: PlatformMemory,
) -> Plan:
    """Decide what to launch, cancel and record so the world matches the table.

    ``validated`` maps each bot id to the hash of its desired columns and the result of
    validating them; ``last_run_status`` is asked only for bots whose run has just ended;
    ``platform`` is what the previous completed tick remembered of the platform.
    """
    plan = Plan()
    runs_by_bot: dict[int, list[ActiveRun]] = {}
    for run in active_runs:
        runs_by_bot.setdefault(run.bot_id, []).append(run)
    timestamp = now.timestamp()
    watch = _watch(bots, validated, runs_by_bot, platform, timestamp, policy, plan)

    seen_ids = set()
    for bot in bots:
        seen_ids.add(bot.id)
        plan.count("seen")
        desired_hash, result = validated[bot.id]
        state = memory.get(bot.id) or BotMemory()
        if state.config_hash != desired_hash:
            state = _new_config(state, desired_hash, bot, plan)
        plan.memory[bot.id] = state
        runs = runs_by_bot.get(bot.id, [])

        if isinstance(result, ConfigError):
            _handle_invalid(bot, result, runs, state, plan)
        elif not bot.enabled:
            _handle_disabled(bot, runs, plan)
        else:
            _handle_enabled(
                bot, result, runs, state, plan, timestamp, policy, last_run_status, watch
            )

    for bot_id, runs in runs_by_bot.items():
        if bot_id not in seen_ids:
            for run in runs:
                if run.status != CANCELING:
                    plan.cancels.append(Cancel(run.run_id, bot_id, "bot deleted"))
                    plan.count("stopped")
            plan.memory.pop(bot_id, None)
    return plan


def _new_config(state: BotMemory, desired_hash: str, bot: BotRow, plan: Plan) -> BotMemory:
    fresh = BotMemory(config_hash=desired_hash, incarnation=state.incarnation)
    if bot.restart_count:
        # the counter only: the run may be writing its status right now (a disable cancels it)
        plan.status_changes.append(
            StatusChange(bot.id, None, "config changed: restart count reset", restart_count=0)
        )
    return fresh


def _as_read(bot: BotRow) -> tuple[BotStatus, ...]:
    """The ``only_from`` of a status the sensor writes: the status it decided on."""
    return (BotStatus(bot.status),)


def _handle_invalid(
    bot: BotRow, error: ConfigError, runs: list[ActiveRun], state: BotMemory, plan: Plan
) -> None:
    plan.count("invalid")
    for run in runs:
        if run.status != CANCELING:
            plan.cancels.append(Cancel(run.run_id, bot.id, f"invalid config: {error}"))
    first = not state.invalid_reported
    # again while the row says otherwise and no run can be writing it (a cancelled run may
    # have recorded its stop after the first report's read)
    if first or (not runs and bot.status != BotStatus.ERROR):
        state.invalid_reported = True
        plan.status_changes.append(
            StatusChange(
                bot.id,
                BotStatus.ERROR,
                f"invalid config: {error}",
                error=f"invalid config: {error}",
                only_from=_as_read(bot),
                notify=NotificationType.INVALID_CONFIG if first else None,
                bot_name=bot.name,
                dedupe_key=f"invalid:{bot.id}:{state.config_hash[:16]}",
            )
        )


#: what a bot's status may be while a run holds it
_RUN_HELD = (BotStatus.STARTING, BotStatus.RUNNING, BotStatus.STOPPING)


def _handle_disabled(bot: BotRow, runs: list[ActiveRun], plan: Plan) -> None:
    for run in runs:
        if run.status != CANCELING:
            plan.cancels.append(Cancel(run.run_id, bot.id, "bot disabled"))
            plan.count("stopped")
    if not runs and bot.status in _RUN_HELD:
        plan.status_changes.append(
            StatusChange(
                bot.id,
                BotStatus.STOPPED,
                "bot disabled and no run is active",
                only_from=_as_read(bot),
            )
        )


def _handle_enabled(
    bot: BotRow,
    config: BotConfig,
    runs: list[ActiveRun],
    state: BotMemory,
    plan: Plan,
    timestamp: float,
    policy: Policy,
    last_run_status: EndedRunLookup,
    watch: Watch,
) -> None:
    current = [run for run in runs if run.config_hash == config.config_hash]
    stale = [run for run in runs if run.config_hash != config.config_hash]
    for run in stale:
        if run.status != CANCELING:
            plan.cancels.append(Cancel(run.run_id, bot.id, "config changed (hot reload)"))
    # more than one run of the same config (never expected): keep the newest
    current.sort(key=lambda run: run.incarnation)
    for run in current[:-1]:
        if run.status != CANCELING:
            plan.cancels.append(Cancel(run.run_id, bot.id, "duplicate run of the same bot"))
    current = current[-1:]

    if current:
        run = current[0]
        if run.status == DagsterRunStatus.STARTED and run.worker_gone:
            plan.cancels.append(
                Cancel(run.run_id, bot.id, "run worker gone (killed or crashed), restarting")
            )
            _record_failure(bot, config, state, plan, timestamp, policy, "run worker gone")
            _judged(state)
            return
        if run.status == DagsterRunStatus.STARTED and _heartbeat_stale(
            bot, config, run, timestamp, policy, watch.since
        ):
            _judged(state)
            if watch.outage:  # not the bot's fault: relaunch it, count nothing
                reason = "heartbeat stale during a platform-wide outage: relaunching, no failure"
                plan.cancels.append(Cancel(run.run_id, bot.id, reason))
                return
            plan.cancels.append(
                Cancel(run.run_id, bot.id, "heartbeat stale: run presumed hung, restarting")
            )
            _record_failure(bot, config, state, plan, timestamp, policy, "heartbeat stale")
        return

    if state.gave_up:  # on an earlier tick
        _keep_exhausted_error(bot, state, plan)
        return
    if state.launched_key is not None:
        ended = last_run_status(bot.id)
        state.launched_key = None
        status = ended.status if ended is not None else None
        if ended is not None and ended.fatal:
            state.gave_up = True
            plan.count("gave_up")
        elif status == DagsterRunStatus.SUCCESS and config.mode == Mode.BACKTEST:
            state.completed = True
        elif status == DagsterRunStatus.FAILURE:
            _record_failure(bot, config, state, plan, timestamp, policy, "run failed")
    if state.completed or state.gave_up:
        return
    if state.retry_at is not None and timestamp < state.retry_at:
        return

    restart = bool(state.failures)
    state.incarnation += 1
    state.retry_at = None
    key = run_key(bot.id, config.config_hash, state.incarnation)
    state.launched_key = key
    state.launched_at = timestamp
    plan.launches.append(Launch(bot.id, config, state.incarnation, key, restart))
    if stale:
        plan.count("reloaded")
    elif restart:
        plan.count("restarted")
    else:
        plan.count("launched")


def _judged(state: BotMemory) -> None:
    """The sensor has judged how the launched run ends (worker gone, hung, outage) and
    cancels it: how Dagster records its end must not be judged again.  The code server may
    report the dead worker's run FAILURE while the sensor cancels it, and the one kill was
    counted twice (restart_count 2, the backoff doubled)."""
    state.launched_key = None


def stale_limit(config: BotConfig, policy: Policy) -> float:
    """Seconds without a heartbeat after which a run is presumed hung: the bot's heartbeat
    interval times the policy's factor, never less than :data:`MIN_STALE_SECONDS`."""
    return stale_limit_seconds(config.heartbeat_interval, policy.stale_heartbeat_factor)


def _heartbeat_stale(
    bot: BotRow,
    config: BotConfig,
    run: ActiveRun,
    timestamp: float,
    policy: Policy,
    since: float = 0.0,
) -> bool:
    """Whether ``run`` has gone a stale limit without a heartbeat, counting from ``since``
    at the earliest (the sensor was not watching before, or the platform was down)."""
    limit = stale_limit(config, policy)
    if timestamp - _started(run, timestamp) < limit:
        return False
    last = bot.last_heartbeat.timestamp() if bot.last_heartbeat else 0.0
    return timestamp - max(last, since) > limit


def _judged_run(config: BotConfig, runs: list[ActiveRun]) -> ActiveRun | None:
    """The run whose heartbeat this tick judges: the newest of the current config, STARTED."""
    current = sorted(
        (run for run in runs if run.config_hash == config.config_hash),
        key=lambda run: run.incarnation,
    )
    if current and current[-1].status == DagsterRunStatus.STARTED:
        return current[-1]
    return None


def _watch(
    bots: Sequence[BotRow],
    validated: dict[int, tuple[str, BotConfig | ConfigError]],
    runs_by_bot: dict[int, list[ActiveRun]],
    platform: PlatformMemory,
    timestamp: float,
    policy: Policy,
    plan: Plan,
) -> Watch:
    """Tell a hung run from a platform outage, before any bot is judged (module docstring).

    A sensor that did not complete a tick for :meth:`Policy.sensor_gap` (the database was
    unreachable, the daemon was down) has not seen the heartbeats of that time: every run
    gets one more stale limit from now.  Every judged run stale at once (two at least) is
    the platform's fault, not each bot's: the runs get one more stale limit from the moment
    that was noticed, and are then relaunched without counting a failure while it lasts."""
    state = PlatformMemory(platform.last_tick, platform.watching_since, platform.outage_since)
    plan.platform = state
    if state.last_tick is None or timestamp - state.last_tick > policy.sensor_gap():
        gap = (
            "no previous tick"
            if state.last_tick is None
            else (f"no completed tick for {timestamp - state.last_tick:.0f} s")
        )
        plan.warnings.append(f"{gap}: heartbeats are judged from now, runs get a stale limit")
        state.watching_since = timestamp
    state.last_tick = timestamp

    judged = stale = 0
    for bot in bots:
        result = validated[bot.id][1]
        if isinstance(result, ConfigError) or not bot.enabled:
            continue
        run = _judged_run(result, runs_by_bot.get(bot.id, []))
        if run is None or timestamp - _started(run, timestamp) < stale_limit(result, policy):
            continue
        judged += 1
        stale += _heartbeat_stale(bot, result, run, timestamp, policy)
    outage = judged >= 2 and stale == judged
    if outage and state.outage_since is None:
        state.outage_since = state.watching_since = timestamp
        plan.warnings.append(
            f"the heartbeats of all {judged} running bots are stale at once: the platform looks "
            "to have had an outage (database unreachable or locked?); no run is cancelled as "
            "hung nor counted as a failure; runs get one more stale limit"
        )
    elif not outage and state.outage_since is not None:
        plan.warnings.append(
            f"heartbeats resumed {timestamp - state.outage_since:.0f} s after the outage "
            "was noticed"
        )
        state.outage_since = None
    return Watch(since=state.watching_since, outage=outage)


def _started(run: ActiveRun, timestamp: float) -> float:
    return run.started_at.timestamp() if run.started_at else timestamp


def _keep_exhausted_error(bot: BotRow, state: BotMemory, plan: Plan) -> None:
    """Write ``error`` again if the bot gave up after ``max_restarts`` but its row says
    otherwise: the first write is conditional on the status read, so a run that recorded
    its stop after that read wins the race, and the row would show a bot that is merely
    stopped.  No run holds the bot now, so nothing else writes its status."""
    if state.exhausted and bot.status != BotStatus.ERROR:
        plan.status_changes.append(
            StatusChange(
                bot.id,
                BotStatus.ERROR,
                state.exhausted,
                error=state.exhausted,
                only_from=_as_read(bot),
                bot_name=bot.name,
            )
        )


def _record_failure(
    bot: BotRow,
    config: BotConfig,
    state: BotMemory,
    plan: Plan,
    timestamp: float,
    policy: Policy,
    what: str,
) -> None:
    """Count a failure of the bot's run: relaunch after a backoff, or give up.

    Only failures within ``restart_window`` count, toward ``max_restarts`` and the backoff
    alike: transient incidents months apart must not add up to giving up for good.  The
    notifications are named by the incarnation that failed, not by the count, which repeats
    once old failures leave the window."""
    state.failures = _in_window(state.failures, timestamp, config.restart_window)
    state.failures.append(timestamp)
    failures = len(state.failures)
    if failures > config.max_restarts:
        state.gave_up = True
        plan.count("gave_up")
        message = (
            f"{what}; gave up after {failures} failures (max_restarts={config.max_restarts}); "
            "change the config or re-enable the bot to try again"
        )
        state.exhausted = message
        plan.status_changes.append(
            StatusChange(
                bot.id,
                BotStatus.ERROR,
                message,
                error=message,
                restart_count=failures - 1,
                only_from=_as_read(bot),
                notify=NotificationType.RESTARTS_EXHAUSTED
                if config.notifications.error_notifications
                else None,
                bot_name=bot.name,
                dedupe_key=f"exhausted:{bot.id}:{state.config_hash[:16]}:{state.incarnation}",
            )
        )
        return
    ran_for = timestamp - state.launched_at if state.launched_at is not None else 0.0
    state.streak = 1 if ran_for >= STABLE_RUN_SECONDS else state.streak + 1
    delay = policy.backoff(min(state.streak, failures))
    state.retry_at = timestamp + delay
    plan.status_changes.append(
        StatusChange(
            bot.id,
            BotStatus.STARTING,
            f"{what}; restart {failures}/{config.max_restarts} in {delay:.0f} s",
            error=what,
            restart_count=failures,
            only_from=_as_read(bot),
            notify=NotificationType.BOT_RESTARTED
            if config.notifications.error_notifications
            else None,
            bot_name=bot.name,
            dedupe_key=f"restart:{bot.id}:{state.config_hash[:16]}:{state.incarnation}",
        )
    )


def _in_window(failures: list[float], timestamp: float, window: float) -> list[float]:
    """The failures that still count at ``timestamp``."""
    return [at for at in failures if timestamp - at < window]
