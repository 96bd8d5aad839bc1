"""deploy/k8s/values.yaml through Dagster's Helm chart: the instance it renders validates
against Dagster's own config schemas, K8sRunLauncher loads from it, and the Kubernetes Job a
bot's run gets (built by dagster-k8s from the launcher and the code location's context) has
the bot's requests, the Secrets as environment and no secret value anywhere.

No cluster and no ``helm`` run on the development or CI machines: tests/deploy/helm_chart.py
renders the chart's instance template for these values, and the Kubernetes batch API is the
one stand-in (it records the Job the launcher would create).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.test_utils import instance_for_test
from dagster_k8s import K8sRunLauncher
from kubernetes.client import ApiClient

from tests.deploy import helm_chart
from tests.deploy.launching import (
    CREDENTIAL_SET,
    SECRET_KEY_VALUE,
    SECRET_VALUE,
    bot_run,
    launch,
    stored_text,
)
from trading_platform.contract import RunTag
from trading_platform.exchanges.credentials import variable

VALUES = helm_chart.values()
IMAGE = "registry.example.com/trading-platform:0.1.0"

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


def _validated(config_type: Any, config: dict[str, Any]) -> dict[str, Any]:
    result = process_config(config_type, config)
    assert result.success, [error.message for error in result.errors or []]
    assert result.value is not None
    return dict(result.value)


def test_the_rendered_instance_is_a_valid_dagster_instance(tmp_path: Path) -> None:
    rendered = helm_chart.instance_config(VALUES)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(rendered))
    config, _custom_class = dagster_instance_config(str(tmp_path))
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    monitoring = config["run_monitoring"]
    assert monitoring["enabled"] and monitoring["max_resume_run_attempts"] == 0
    coordinator = _validated(
        QueuedRunCoordinator.config_type(), rendered["run_coordinator"]["config"]
    )
    (limit,) = coordinator["tag_concurrency_limits"]
    assert limit["key"] == RunTag.BOT_ID and limit["limit"] == 1
    assert coordinator["max_concurrent_runs"] == -1


def test_every_secret_is_created_beforehand_not_by_the_chart() -> None:
    """The README creates these Secrets with kubectl; the values hold no password."""
    readme = (helm_chart.ROOT / "README.md").read_text()
    assert VALUES["generatePostgresqlPasswordSecret"] is False
    names = {VALUES["global"]["postgresqlSecretName"]}
    names |= {s["name"] for s in VALUES["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]}
    for name in names:
        assert f"kubectl create secret generic {name} " in readme, name
    assert "password" not in yaml.safe_dump(VALUES["postgresql"]).lower()


def test_the_run_launcher_config_is_valid_for_k8s_run_launcher() -> None:
    config = helm_chart.instance_config(VALUES)["run_launcher"]["config"]
    validated = _validated(K8sRunLauncher.config_type(), config)
    assert validated["env_secrets"] == ["trading-platform-env", "trading-platform-credentials"]


def test_a_misspelt_run_launcher_setting_is_refused() -> None:
    """The validation above can fail: a key K8sRunLauncher does not know."""
    config = helm_chart.instance_config(VALUES)["run_launcher"]["config"]
    result = process_config(K8sRunLauncher.config_type(), {**config, "env_secret": ["x"]})
    assert not result.success


class _BatchApi:
    """Kubernetes' batch API as K8sRunLauncher uses it to start a run, recorded."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, str]] = []

    def create_namespaced_job(self, body: Any, namespace: str, **_options: Any) -> None:
        self.jobs.append((body, namespace))


def _launch(
    values: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], str]:
    """The Job (as kubectl would show it) of a live bot's run under ``values``, and what
    Dagster stored of the run, with the credential set's keys in the launching process."""
    monkeypatch.setenv(variable(CREDENTIAL_SET, "API_KEY"), SECRET_KEY_VALUE)
    monkeypatch.setenv(variable(CREDENTIAL_SET, "SECRET"), SECRET_VALUE)
    config = _validated(
        K8sRunLauncher.config_type(),
        helm_chart.instance_config(values)["run_launcher"]["config"],
    )
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    # outside a cluster: a kubeconfig instead of the pod's service account (never contacted)
    config.update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    batch = _BatchApi()
    launcher = K8sRunLauncher(**config, k8s_client_batch_api=batch)
    with instance_for_test() as instance:
        assert isinstance(instance, DagsterInstance)
        launcher.register_instance(instance)
        context = helm_chart.code_location_container_context(values)
        run = bot_run(instance, IMAGE, context)
        launch(launcher, run)
        stored = stored_text(instance, run)
    ((job, namespace),) = batch.jobs
    assert namespace == helm_chart.NAMESPACE
    return ApiClient().sanitize_for_serialization(job), stored


@pytest.fixture
def launched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], str]:
    return _launch(VALUES, tmp_path, monkeypatch)


def test_a_bot_run_pod_gets_the_bot_requests_not_the_code_servers(
    launched: tuple[dict[str, Any], str],
) -> None:
    job, _stored = launched
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["resources"] == {
        "requests": {"cpu": "50m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert pod["terminationGracePeriodSeconds"] == 60
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    # `kubectl top pod -l app.kubernetes.io/component=bot` (README) finds the bots' pods
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "bot"
    annotations = job["spec"]["template"]["metadata"]["annotations"]
    assert annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    assert container["args"][-4:-1] == ["dagster", "api", "execute_run"]


def test_a_bot_run_pod_gets_the_secrets_as_environment_and_no_secret_value(
    launched: tuple[dict[str, Any], str],
) -> None:
    job, stored = launched
    (container,) = job["spec"]["template"]["spec"]["containers"]
    secrets = {entry["secretRef"]["name"] for entry in container["envFrom"] if "secretRef" in entry}
    assert secrets == {"trading-platform-env", "trading-platform-credentials"}
    visible = yaml.safe_dump(job) + stored
    assert SECRET_KEY_VALUE not in visible and SECRET_VALUE not in visible
    assert CREDENTIAL_SET in stored  # the set's name is in the run config, as it should be


def test_why_the_code_location_config_stays_out_of_run_pods(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With includeConfigInLaunchedRuns on, the code server's requests would replace every
    bot's: 10,000 bots would each reserve the code server's 512Mi."""
    values = copy.deepcopy(VALUES)
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    deployment["includeConfigInLaunchedRuns"]["enabled"] = True
    job, _stored = _launch(values, tmp_path, monkeypatch)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == deployment["resources"]


@pytest.mark.skipif(
    shutil.which("helm") is None
    or subprocess.run(
        ["helm", "search", "repo", "dagster/dagster"], capture_output=True
    ).stdout.count(b"dagster/dagster")
    == 0,
    reason="no helm with the dagster chart repository, and no cluster, on this machine (the "
    "development and CI machines have neither): the chart's instance template is rendered by "
    "tests/deploy/helm_chart.py above",
)
def test_the_chart_accepts_the_values(tmp_path: Path) -> None:
    rendered = subprocess.run(
        [
            "helm",
            "template",
            "trading",
            "dagster/dagster",
            "--version",
            "1.13.27",
            "--namespace",
            helm_chart.NAMESPACE,
            "-f",
            str(helm_chart.VALUES),
        ],
        check=True,
        capture_output=True,
    )
    # the chart rendered the instance with our launcher, not its default
    assert b"K8sRunLauncher" in rendered.stdout
