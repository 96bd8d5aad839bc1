"""The failure hook of ``bot_run``: an op exception reaches the outbox from inside the run."""

from dagster import HookContext, failure_hook

from trading_platform.notifications import messages, outbox


def wants_error_notifications(run_config: dict) -> bool:
    snapshot = run_config.get("ops", {}).get("run_bot", {}).get("config", {}).get("snapshot", {})
    return (snapshot.get("notifications") or {}).get("error_notifications", True)


def bot_of_run(tags: dict[str, str]) -> tuple[int | None, str]:
    bot_id = tags.get("trading/bot_id")
    return (int(bot_id) if bot_id and bot_id.isdigit() else None), tags.get(
        "trading/bot_name", "bot"
    )


@failure_hook(required_resource_keys={"bot_database"})
def notify_op_failure(context: HookContext) -> None:
    run = context.instance.get_run_by_id(context.run_id)
    if run is None:
        return
    bot_id, name = bot_of_run(run.tags)
    if bot_id is None or not wants_error_notifications(run.run_config):
        return
    error = context.op_exception
    detail = f"{type(error).__name__}: {error}" if error else "op failed"
    outbox.enqueue(
        context.resources.bot_database.engine(),
        messages.bot_error(name, "RUN_ERROR", detail),
        bot_id=bot_id,
        dedupe_key=f"run-error:{context.run_id}",
    )
