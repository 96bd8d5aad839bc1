"""The failure hook of ``bot_run``: an op exception reaches the outbox from inside the run."""

from dagster import HookContext, failure_hook

from trading_platform.contract import ErrorKind
from trading_platform.notifications import messages, outbox
from trading_platform.orchestration.runs import bot_of_run, wants_error_notifications


@failure_hook(required_resource_keys={"bot_database"})
def notify_op_failure(context: HookContext) -> None:
    run = context.instance.get_run_by_id(context.run_id)
    if run is None:
        return
    bot_id, name = bot_of_run(run.tags)
    if bot_id is None or not wants_error_notifications(run):
        return
    error = context.op_exception
    detail = f"{type(error).__name__}: {error}" if error else "op failed"
    outbox.enqueue(
        context.resources.bot_database.engine(),
        messages.bot_error(name, ErrorKind.RUN_ERROR, detail),
        bot_id=bot_id,
        dedupe_key=outbox.run_error_key(context.run_id),
    )
