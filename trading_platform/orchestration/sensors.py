"""``trading_bots_sensor``: the only code that reads bot configuration.

Every tick: one query for the bots, one for the credential grants, one for the active bot
runs, then
:func:`~trading_platform.orchestration.reconcile.reconcile` decides and this module acts:
runs to launch become ``RunRequest``\\ s, runs to stop are cancelled through the run
coordinator, status changes are written with their audit rows (each a compare-and-set on
the status the tick read: a run's newer status is never overwritten).
"""

import datetime as dt
import hashlib
import json
from dataclasses import replace
from typing import Any

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from sqlalchemy import Engine

from trading_platform.config import (
    BotConfig,
    config_hash,
    validate_bot_config,
)
from trading_platform.contract import BotStatus, NotificationType
from trading_platform.db.bots import BotRow, get_bots
from trading_platform.db.grants import Grants, all_grants, check_granted
from trading_platform.db.leases import held_leases
from trading_platform.db.status import set_restart_count, update_bot_status
from trading_platform.errors import ConfigError
from trading_platform.notifications import messages, outbox
from trading_platform.orchestration import runs
from trading_platform.orchestration.environment import TIMING
from trading_platform.orchestration.fencing import (
    fence_if_unreachable,
    free_leases_of_ended_runs,
    with_gone_workers,
)
from trading_platform.orchestration.jobs import bot_run
from trading_platform.orchestration.reconcile import (
    BotMemory,
    Launch,
    PlatformMemory,
    StatusChange,
    reconcile,
)
from trading_platform.orchestration.resources import BotDatabase, PlatformSettings
from trading_platform.orchestration.runs import run_tags  # benchmarks import it from here
from trading_platform.strategy_handler import StrategyRegistry

NOTIFICATIONS = {
    NotificationType.BOT_RESTARTED: messages.bot_restarted,
    NotificationType.RESTARTS_EXHAUSTED: messages.restarts_exhausted,
    NotificationType.INVALID_CONFIG: messages.invalid_config,
}

# Validation results by (registry, desired hash, the owner's grants): unchanged bots are not
# re-validated every tick, and a grant or revoke takes effect at the next one. A cache, not
# state: losing it costs time, never correctness.
_validation_cache: dict[tuple[int, str], BotConfig | ConfigError] = {}
_VALIDATION_CACHE_LIMIT = 100_000


def validate_row(
    row: BotRow, registry: StrategyRegistry, grants: Grants | None = None
) -> tuple[str, BotConfig | ConfigError]:
    """The row's desired hash and validated config, or the error that marks it ``error``.
    Whatever a row holds, this never raises: one hostile row (JSON nested 100,000 deep, a
    value no code path expected) must not stop the tick for every other bot.

    ``grants`` are the credential grants the tick read (none when not given): a config that
    names a credential set its owner is not granted is an error, decided here without
    reading any key from the environment."""
    try:
        return _validate_row(row, registry, grants or {})
    except Exception as exc:  # noqa: BLE001 - any failure is this one bot's problem
        raw = f"{row.id}:{row.name}:{row.enabled}:{row.config_text}"
        desired_hash = hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()
        why = (
            "nested too deeply to read"
            if isinstance(exc, RecursionError)
            else f"could not be read ({type(exc).__name__})"
        )
        return desired_hash, ConfigError("config", why)


def _validate_row(
    row: BotRow, registry: StrategyRegistry, grants: Grants
) -> tuple[str, BotConfig | ConfigError]:
    if row.enabled_problem is not None:
        return config_hash(row.desired()), ConfigError("enabled", row.enabled_problem)
    desired_hash = config_hash(row.desired())
    owner_grants = ",".join(sorted(grants.get(row.user_id, ()))) if row.user_id else ""
    key = (id(registry), f"{row.id}:{row.name}:{row.user_id}:{desired_hash}:{owner_grants}")
    cached = _validation_cache.get(key)
    if cached is None:
        try:
            cached = validate_bot_config(
                name=row.name,
                strategy=row.strategy,
                mode=row.mode,
                exchange=row.exchange,
                symbol=row.symbol,
                timeframe=row.timeframe,
                config=row.config_text,
                registry=registry,
                bot_id=row.id,
                user_id=row.user_id,
                desired_hash=desired_hash,
            )
        except ConfigError as exc:
            cached = exc
        else:
            cached = check_granted(grants, row.user_id, cached.credentials) or cached
        if len(_validation_cache) >= _VALIDATION_CACHE_LIMIT:
            _validation_cache.clear()
        _validation_cache[key] = cached
    return desired_hash, cached


def run_request(launch: Launch) -> RunRequest:
    return RunRequest(
        run_key=launch.run_key, run_config=runs.run_config(launch), tags=run_tags(launch)
    )


def load_cursor(cursor: str | None) -> tuple[dict[int, BotMemory], PlatformMemory]:
    """The memory of each bot and of the platform; a cursor written before the platform had
    a memory (the bots' map alone) reads as one with no previous tick."""
    if not cursor:
        return {}, PlatformMemory()
    data: dict[str, Any] = json.loads(cursor)
    if "bots" not in data:
        data = {"bots": data}
    memory = {int(bot_id): BotMemory.from_json(state) for bot_id, state in data["bots"].items()}
    return memory, PlatformMemory.from_json(data.get("platform", {}))


def dump_cursor(memory: dict[int, BotMemory], platform: PlatformMemory) -> str:
    bots = {str(bot_id): state.to_json() for bot_id, state in memory.items()}
    return json.dumps({"bots": bots, "platform": platform.to_json()})


def write_change(engine: Engine, change: StatusChange) -> bool:
    """Carry out one planned write; returns whether the status moved.

    ``restart_count`` is the sensor's own counter and is always written; the status only if
    it is still the one the tick read (``only_from``): a run writes its status while the
    sensor works, and the newer word is the run's."""
    if change.restart_count is not None:
        audit = change.reason if change.status is None else None
        set_restart_count(engine, change.bot_id, change.restart_count, audit)
    if change.status is None:
        return False
    return update_bot_status(
        engine,
        change.bot_id,
        change.status,
        change.reason,
        error=change.error,
        only_from=change.only_from,
    )


def cancel_run(context: SensorEvaluationContext, run_id: str) -> bool:
    """Ask Dagster to stop a run; False when it could not (logged: one unreachable run never
    stops the tick)."""
    try:
        context.instance.run_coordinator.cancel_run(run_id)
    except Exception as exc:  # noqa: BLE001 - one unreachable run never stops the tick
        context.log.warning(f"run {run_id} could not be cancelled: {type(exc).__name__}: {exc}")
        return False
    return True


@sensor(
    job=bot_run,
    minimum_interval_seconds=TIMING.sensor_interval_seconds,
    default_status=DefaultSensorStatus.RUNNING,
    description="Reconciles trading_bots with the bot runs: launch, hot reload, stop, restart.",
)
def trading_bots_sensor(
    context: SensorEvaluationContext,
    bot_database: BotDatabase,
    platform_settings: PlatformSettings,
) -> SensorResult | SkipReason:
    engine = bot_database.engine()
    registry = platform_settings.registry()
    rows = get_bots(engine)
    grants = all_grants(engine)  # who may use which credential set: read once per tick
    validated = {row.id: validate_row(row, registry, grants) for row in rows}
    memory, platform = load_cursor(context.cursor)
    holders = held_leases(engine)  # who trades which bot: read once per tick
    active = with_gone_workers(runs.active_bot_runs(context.instance), holders)
    plan = reconcile(
        rows,
        validated,
        active,
        memory,
        now=dt.datetime.now(dt.UTC),
        policy=replace(
            platform_settings.policy(), sensor_interval_seconds=TIMING.sensor_interval_seconds
        ),
        last_run_status=runs.ended_run_lookup(context.instance),
        platform=platform,
    )
    for warning in plan.warnings:
        context.log.warning(f"trading_bots_sensor: {warning}")
    gone_workers = {run.run_id for run in active if run.worker_gone}
    for cancel in plan.cancels:
        context.log.info(f"bot {cancel.bot_id}: cancelling run {cancel.run_id}: {cancel.reason}")
        reached = cancel_run(context, cancel.run_id)
        # a run Dagster cannot stop can write no order after this (fencing.py)
        gone = cancel.run_id in gone_workers
        if fence_if_unreachable(context.instance, engine, cancel, reached, gone):
            context.log.warning(f"bot {cancel.bot_id}: run {cancel.run_id} fenced off")
    for bot_id in free_leases_of_ended_runs(context.instance, engine, active, holders):
        context.log.info(f"bot {bot_id}: the lease of its ended run revoked")
    for change in plan.status_changes:
        if not write_change(engine, change) and change.status is not None:
            context.log.info(
                f"bot {change.bot_id}: not {change.status.value} ({change.reason}): "
                "its status changed since this tick read it"
            )
        if change.status == BotStatus.ERROR:
            context.log.warning(f"bot {change.bot_id}: {change.reason}")
        if change.notify and change.dedupe_key:
            outbox.enqueue(
                engine,
                NOTIFICATIONS[change.notify](change.bot_name, change.reason),
                bot_id=change.bot_id,
                dedupe_key=change.dedupe_key,
            )
    context.log.info(f"trading_bots_sensor: {plan.summary()}")
    return SensorResult(
        run_requests=[run_request(launch) for launch in plan.launches],
        cursor=dump_cursor(plan.memory, plan.platform),
    )
