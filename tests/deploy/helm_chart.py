"""What Dagster's Helm chart (1.13.27) makes of deploy/k8s/values.yaml, for the settings the
platform uses: the instance's dagster.yaml (configmap-instance.yaml) and the container
context a code location hands to the runs it launches (``includeConfigInLaunchedRuns``).

No cluster and no ``helm`` binary are on the development or CI machines, so this follows the
chart's templates (templates/configmap-instance.yaml, helpers/instance/_run-launcher.tpl,
_run-coordinator.tpl, and the user deployments' k8sContainerContext) key by key; the tests
then hand the result to Dagster's own config validation and to dagster-k8s's job builder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "deploy" / "k8s" / "values.yaml"
RELEASE = "trading"
NAMESPACE = "trading"
FULLNAME = f"{RELEASE}-dagster"


def values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


def _postgres(values: dict[str, Any]) -> dict[str, Any]:
    pg = values["postgresql"]
    return {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
        }
    }


def _run_launcher(values: dict[str, Any]) -> dict[str, Any]:
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": FULLNAME,
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": f"{FULLNAME}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    if "image" in k8s:
        image = k8s["image"]
        config["job_image"] = f"{image['repository']}:{image['tag']}"
    simple = {
        "envConfigMaps": "env_config_maps",
        "envSecrets": "env_secrets",
    }
    for key, field in simple.items():
        if k8s.get(key):
            config[field] = [entry["name"] for entry in k8s[key] if "name" in entry]
    copied = {
        "envVars": "env_vars",
        "volumeMounts": "volume_mounts",
        "volumes": "volumes",
        "labels": "labels",
        "resources": "resources",
        "securityContext": "security_context",
    }
    for key, field in copied.items():
        if k8s.get(key):
            config[field] = k8s[key]
    if k8s.get("failPodOnRunFailure"):
        config["fail_pod_on_run_failure"] = True
    if k8s.get("schedulerName"):
        config["scheduler_name"] = k8s["schedulerName"]
    run_k8s = k8s.get("runK8sConfig") or {}
    parts = {
        "containerConfig": "container_config",
        "podSpecConfig": "pod_spec_config",
        "podTemplateSpecMetadata": "pod_template_spec_metadata",
        "jobSpecConfig": "job_spec_config",
        "jobMetadata": "job_metadata",
    }
    if run_k8s:
        config["run_k8s_config"] = {
            field: run_k8s[key] for key, field in parts.items() if run_k8s.get(key)
        }
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def _run_coordinator(values: dict[str, Any]) -> dict[str, Any]:
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "QueuedRunCoordinator"
    queued = coordinator["config"]["queuedRunCoordinator"]
    max_runs = queued.get("maxConcurrentRuns")
    config: dict[str, Any] = {"max_concurrent_runs": -1 if max_runs is None else max_runs}
    if queued.get("tagConcurrencyLimits"):
        config["tag_concurrency_limits"] = queued["tagConcurrencyLimits"]
    if queued.get("dequeueIntervalSeconds"):
        config["dequeue_interval_seconds"] = queued["dequeueIntervalSeconds"]
    return {
        "module": "dagster.core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": config,
    }


def _run_monitoring(values: dict[str, Any]) -> dict[str, Any]:
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    rendered = {
        "enabled": monitoring["enabled"],
        "start_timeout_seconds": monitoring["startTimeoutSeconds"],
        "poll_interval_seconds": monitoring["pollIntervalSeconds"],
        "free_slots_after_run_end_seconds": monitoring.get("freeSlotsAfterRunEndSeconds"),
    }
    if monitoring.get("cancelTimeoutSeconds") is not None:
        rendered["cancel_timeout_seconds"] = monitoring["cancelTimeoutSeconds"]
    if monitoring.get("maxResumeRunAttempts") is not None:
        rendered["max_resume_run_attempts"] = monitoring["maxResumeRunAttempts"]
    return rendered


def _retention(values: dict[str, Any]) -> dict[str, Any]:
    retention = values["retention"]
    rendered = {}
    for key, field in (("sensor", "sensor"), ("schedule", "schedule")):
        if retention.get(key):
            rendered[field] = {"purge_after_days": retention[key]["purgeAfterDays"]}
    return rendered


def instance_config(values: dict[str, Any]) -> dict[str, Any]:
    """The dagster.yaml of the chart's instance ConfigMap, for these values."""
    postgres = _postgres(values)
    config: dict[str, Any] = {
        "scheduler": {"module": "dagster.core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": postgres,
        },
        "run_launcher": _run_launcher(values),
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": postgres,
        },
        "event_log_storage": {
            "module": "dagster_postgres.event_log",
            "class": "PostgresEventLogStorage",
            "config": postgres,
        },
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }
    if values["dagsterDaemon"]["runCoordinator"]["enabled"]:
        config["run_coordinator"] = _run_coordinator(values)
    if values["dagsterDaemon"]["runMonitoring"]["enabled"]:
        config["run_monitoring"] = _run_monitoring(values)
    if values["retention"]["enabled"]:
        config["retention"] = _retention(values)
    return config


def code_location_container_context(values: dict[str, Any]) -> dict[str, Any] | None:
    """The ``k8s`` container context the chart gives the platform's code server, which it
    hands to every run it launches; none unless ``includeConfigInLaunchedRuns`` is enabled."""
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    if not deployment.get("includeConfigInLaunchedRuns", {"enabled": True})["enabled"]:
        return None
    context: dict[str, Any] = {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [f"{FULLNAME}-{deployment['name']}-user-env"]
        + [entry["name"] for entry in deployment.get("envConfigMaps", []) if "name" in entry],
        "namespace": NAMESPACE,
        "service_account_name": f"{FULLNAME}-user-deployments",
        "run_k8s_config": {"pod_spec_config": {"automount_service_account_token": True}},
    }
    if deployment.get("envSecrets"):
        context["env_secrets"] = [entry["name"] for entry in deployment["envSecrets"]]
    for key in ("volumeMounts", "volumes", "labels", "resources"):
        if deployment.get(key):
            context[{"volumeMounts": "volume_mounts"}.get(key, key)] = deployment[key]
    if isinstance(deployment.get("env"), list) and deployment["env"]:
        context["env"] = deployment["env"]
    return {"k8s": context}
