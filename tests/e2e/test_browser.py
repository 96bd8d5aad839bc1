"""The Dagster UI in headless Chromium: the asset lineage and the sensors, as a user sees them.

Uses Debian's Chromium (``/usr/bin/chromium``) through Playwright's ``executable_path``;
never a downloaded browser.  ``.ci/run`` installs the package.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey

from tests.e2e.conftest import BACKENDS, _platform
from tests.e2e.harness import BIN, REPO_ROOT, Platform

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LINEAGE = {
    "bot_performance": {"trading_trades", "trading_positions", "trading_bots"},
    "portfolio_pnl": {"bot_performance"},
    "bot_health": {"trading_bots"},
}
SENSORS = {
    "trading_bots_sensor",
    "notification_dispatcher",
    "bot_run_failure_sensor",
    "bot_run_canceled_sensor",
}


@pytest.fixture(scope="module", params=BACKENDS[:1])
def platform(request, tmp_path_factory) -> Iterator[Platform]:
    """The schedules fire at their production pace here (other modules quieten them)."""
    yield from _platform(request, tmp_path_factory, TRADING_HEALTH_CRON="* * * * *")


@pytest.fixture(scope="module")
def webserver(platform: Platform) -> Iterator[str]:
    # Dagster's SQLite storages are created (and stamped by Alembic) by the first process that
    # opens them; two processes doing it at once on a fresh DAGSTER_HOME can stamp the schedule
    # storage twice.  The daemon's first sensor tick means its storages exist.
    platform.wait_for_sensor_ticks(1, timeout=120)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(platform.home / "webserver.log", "ab")  # noqa: SIM115 - the child owns it
    process = subprocess.Popen(
        [
            str(BIN / "dagster-webserver"),
            "-w",
            str(REPO_ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=REPO_ROOT,
        env=platform.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    platform.process_groups.append(process.pid)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    platform.wait_for(up, 120, "the Dagster webserver")
    yield url
    process.terminate()
    process.wait(timeout=20)


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def test_lineage_and_sensors_through_the_webserver(webserver: str) -> None:
    data = _graphql(webserver, "{ assetNodes { assetKey { path } dependencyKeys { path } } }")
    deps = {
        "/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]}
        for n in data["assetNodes"]
    }
    for asset, upstream in LINEAGE.items():
        assert deps[asset] == upstream, asset
    data = _graphql(
        webserver,
        """{ sensorsOrError(repositorySelector: {
        repositoryName: "__repository__", repositoryLocationName: "trading_platform"}) {
        ... on Sensors { results { name sensorState { status } } } } }""",
    )
    states = {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
    assert {name for name in SENSORS if states.get(name) == "RUNNING"} == SENSORS


def test_asset_graph_in_chromium(webserver: str, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{webserver}/asset-groups", wait_until="networkidle")
            for name in ("trading_bots", "bot_health", "bot_performance", "portfolio_pnl"):
                page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "asset_graph.png"), full_page=True)
            page.goto(f"{webserver}/automation", wait_until="networkidle")
            page.get_by_text("trading_bots_sensor").first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "automation.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "asset_graph.png").stat().st_size > 10_000


def test_health_schedule_materializes_bot_health(platform: Platform) -> None:
    """``bot_health_schedule`` runs every minute: its run materializes the asset and its
    checks, as the UI's asset page shows them."""

    def materialization():
        with platform.instance() as instance:
            return instance.get_latest_materialization_event(AssetKey("bot_health"))

    event = platform.wait_for(materialization, 150, "bot_health materialized by its schedule")

    def finished_run():
        with platform.instance() as instance:
            run = instance.get_run_by_id(event.run_id)
        return run if run is not None and run.is_finished else None

    run = platform.wait_for(finished_run, 60, "the schedule's run to finish")
    assert run.tags.get("dagster/schedule_name") == "bot_health_schedule"
    assert run.status.value == "SUCCESS"
