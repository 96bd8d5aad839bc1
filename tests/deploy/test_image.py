"""The code location image: its build context holds what the code location needs, and only
that; it installs the package with its pinned dependencies and serves the definitions."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from dagster import Definitions

from tests.deploy.build_context import (
    DockerIgnore,
    context_files,
    copy_sources,
    environment,
    instructions,
)

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _copied() -> list[str]:
    return [source for sources, _ in copy_sources(DOCKERFILE) for source in sources]


def test_every_copy_source_is_in_the_build_context() -> None:
    context = context_files(ROOT)
    for source in _copied():
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the checkout"
        inside = [path for path in context if path == source or path.startswith(f"{source}/")]
        assert inside, f"COPY {source}: excluded from the build context by .dockerignore"


def test_the_build_context_holds_only_what_the_image_copies() -> None:
    """No checkout state (databases, Dagster storage, virtual environment, secrets files,
    tests) is sent to the Docker daemon or can end up in a layer."""
    copied = _copied()
    strays = [
        path
        for path in context_files(ROOT)
        if not any(path == source or path.startswith(f"{source}/") for source in copied)
    ]
    assert strays == []


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "var/trading.db",
        "dagster_home/storage/runs.db",
        "dagster_home/dagster.yaml",
        "tests/conftest.py",
        "benchmarks/chaos.py",
        "deploy/docker/secrets.env",
        "trading_platform/__pycache__/config.cpython-311.pyc",
        ".git/config",
        "trading.db",
        ".hypothesis/examples/x",
        "trading_platform.egg-info/PKG-INFO",
        "notes.txt",
    ],
)
def test_dockerignore_excludes(path: str) -> None:
    assert DockerIgnore((ROOT / ".dockerignore").read_text()).excludes(path)


def test_the_package_data_reaches_the_image() -> None:
    """Migrations and the demo CSV are package data: `pip install .` in the image installs
    them only if the context holds them."""
    context = context_files(ROOT)
    for package, patterns in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        for pattern in patterns:
            full = f"{package}/{pattern}"
            assert any(fnmatch(path, full) for path in context), f"nothing matches {full}"


def test_the_image_installs_the_package_with_its_pins_and_both_launchers() -> None:
    runs = [i.arguments for i in instructions(DOCKERFILE) if i.keyword == "RUN"]
    (install,) = [run for run in runs if "pip install" in run]
    assert 'pip install ".[${EXTRAS}]"' in install
    (extras,) = [i.arguments for i in instructions(DOCKERFILE) if i.keyword == "ARG"]
    assert extras == "EXTRAS=docker,k8s"
    optional = PYPROJECT["project"]["optional-dependencies"]
    for extra in ("docker", "k8s"):
        assert optional[extra], f"extra {extra} is empty"
    for requirement in PYPROJECT["project"]["dependencies"] + optional["docker"] + optional["k8s"]:
        assert "==" in requirement, f"{requirement} is not pinned"


def test_the_image_serves_the_definitions_module() -> None:
    (cmd,) = [i for i in instructions(DOCKERFILE) if i.keyword == "CMD"]
    words = cmd.words()
    assert words[:3] == ["dagster", "code-server", "start"]
    module = words[words.index("--module-name") + 1]
    definitions = __import__(module, fromlist=["defs"])
    assert isinstance(definitions.defs, Definitions)
    assert definitions.defs.resolve_job_def("bot_run") is not None


def test_the_plugins_are_where_the_image_looks_for_them() -> None:
    """The package is installed into site-packages, where the registry's "repository's
    strategies/" does not exist: TRADING_STRATEGY_PATHS must name where COPY put them."""
    (workdir,) = [i.arguments for i in instructions(DOCKERFILE) if i.keyword == "WORKDIR"]
    (destination,) = [dest for sources, dest in copy_sources(DOCKERFILE) if "strategies" in sources]
    target = Path(workdir) / destination
    assert environment(DOCKERFILE)["TRADING_STRATEGY_PATHS"] == str(target)
    assert list((ROOT / "strategies").glob("*.py")), "no plugin to ship"


def _docker_daemon() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(
    not _docker_daemon(),
    reason="no Docker daemon on this machine (the development and CI machines have none): "
    "the build context, the Dockerfile and the instance configs are checked without it",
)
def test_the_image_builds_and_loads_the_definitions() -> None:
    tag = "trading-platform:test"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=1800)
    loaded = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            tag,
            "python",
            "-c",
            "import trading_platform.definitions as d; print(len(d.defs.jobs or []))",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert int(loaded.stdout.strip() or 0) > 0  # the image's definitions hold the jobs
