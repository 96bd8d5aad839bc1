"""A bot's run as the sensor makes it, handed to a real run launcher whose only stand-in is
the container API it would call (Docker or Kubernetes: neither runs on these machines).

The run carries the platform's own tags and run config (``orchestration.runs``) for a live
bot that names a credential set, and the code origin a code server gives its runs (image and
container context), so a test sees what the launcher would create from it: a container's
environment or a Kubernetes Job.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from dagster import DagsterInstance, DagsterRun
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.launcher import LaunchRunContext, RunLauncher
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin

from tests.support.builders import bot_config
from trading_platform.orchestration.reconcile import Launch
from trading_platform.orchestration.runs import run_config, run_tags
from trading_platform.strategy_handler import load_registry

#: the credential set of the test bot, and the value its key has in the launcher's environment
CREDENTIAL_SET = "DEPLOY_TEST"
SECRET_KEY_VALUE = "deploy-test-api-key-4f1c"
SECRET_VALUE = "deploy-test-secret-9b2e"


def bot_run(
    instance: DagsterInstance, image: str, container_context: dict[str, Any] | None = None
) -> DagsterRun:
    """A stored ``bot_run`` run of a live bot naming :data:`CREDENTIAL_SET`."""
    registry, _report = load_registry()
    config = bot_config(
        registry,
        bot_id=7,
        name="btc live",
        user_id=1,
        mode="live",
        exchange="binance",
        config={"credentials": CREDENTIAL_SET, "risk": {"stake": 0.001}},
    )
    launch = Launch(bot_id=7, config=config, incarnation=1, run_key="7:1", restart=False)
    origin = JobPythonOrigin(
        job_name="bot_run",
        repository_origin=RepositoryPythonOrigin(
            executable_path=sys.executable,
            code_pointer=ModuleCodePointer("trading_platform.definitions", "defs", None),
            container_image=image,
            container_context=container_context,
        ),
    )
    run = DagsterRun(
        job_name="bot_run",
        run_config=run_config(launch),
        tags=run_tags(launch),
        job_code_origin=origin,
    )
    return instance.add_run(run)


def launch(launcher: RunLauncher, run: DagsterRun) -> None:
    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))


def stored_text(instance: DagsterInstance, run: DagsterRun) -> str:
    """Everything Dagster keeps of ``run`` (its run config, its tags, its events), as text."""
    stored = instance.get_run_by_id(run.run_id)
    assert stored is not None
    events = instance.all_logs(run.run_id)
    return json.dumps(
        {
            "run_config": stored.run_config,
            "tags": dict(stored.tags),
            "events": [str(event) for event in events],
        },
        default=str,
    )
