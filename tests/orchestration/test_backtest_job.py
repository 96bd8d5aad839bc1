"""The ``backtest`` job, executed in process: its ``backtest_result`` materialization carries
the figures ``trading-platform backtest --json`` prints for the same config, the report file
and the config that ran; a bad field fails the run naming the field; with a search space the
reported backtest is the search's best.

The job opens no bot database (a backtest here belongs to no bot row), so these tests run
once, not once per database backend."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from dagster import (
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    FloatMetadataValue,
    IntMetadataValue,
)

from trading_platform.cli import cli
from trading_platform.contract import RunTag
from trading_platform.metrics.report_figures import FIGURES
from trading_platform.orchestration.research import backtest, backtest_result
from trading_platform.orchestration.resources import PlatformSettings

PARAMS = {"fast": 10, "slow": 30}
#: nine combinations, one of which sma_cross refuses (fast must be below slow)
SPACE = {"fast": [5, 10, 20], "slow": [20, 40, 60]}


@pytest.fixture
def instance(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "dh").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dh")) as instance:
        yield instance


def _run(instance: DagsterInstance, **config: Any) -> ExecuteInProcessResult:
    job = Definitions(
        assets=[backtest_result],
        jobs=[backtest],
        resources={"platform_settings": PlatformSettings()},
    ).resolve_job_def("backtest")
    return job.execute_in_process(
        run_config={"ops": {"backtest_result": {"config": config}}},
        instance=instance,
        raise_on_error=False,
    )


def _cli_json(*args: str, tmp_path: Path) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / 'unused.db'}"
    result = CliRunner().invoke(cli, ["--database-url", url, "backtest", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _metadata(result: ExecuteInProcessResult) -> dict[str, Any]:
    assert result.success, _failure(result)
    [materialization] = result.asset_materializations_for_node("backtest_result")
    return dict(materialization.metadata)


def _failure(result: ExecuteInProcessResult) -> str:
    [event] = [event for event in result.all_events if event.is_step_failure]
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    return data.error.message if data.error else ""


def test_materialises_every_figure_the_cli_gives_and_the_report(
    instance: DagsterInstance, tmp_path: Path
) -> None:
    result = _run(instance, strategy="sma_cross", params=PARAMS, cash=50_000, commission=0.0005)
    metadata = _metadata(result)
    printed = _cli_json(
        "--strategy",
        "sma_cross",
        "--params",
        json.dumps(PARAMS),
        "--cash",
        "50000",
        "--commission",
        "0.0005",
        tmp_path=tmp_path,
    )
    expected = printed["metrics"]
    defined = [figure for figure in FIGURES if expected[figure.key] is not None]
    assert len(defined) > 20  # the demo series trades: nearly every figure is defined
    for figure in defined:
        entry = metadata[figure.key]
        kind = IntMetadataValue if figure.unit == "count" else FloatMetadataValue
        assert isinstance(entry, kind), figure.key
        want = expected[figure.key]
        want = float(want) if isinstance(want, str) else want  # "inf" in --json
        assert math.isclose(entry.value, want, rel_tol=1e-12), figure.key
    undefined = [figure.key for figure in FIGURES if expected[figure.key] is None]
    for key in undefined:
        assert key not in metadata
    if undefined:
        assert metadata["undefined_figures"].value == ", ".join(undefined)
    else:
        assert "undefined_figures" not in metadata
    assert metadata["strategy"].value == printed["strategy"]
    assert metadata["bars"].value == printed["bars"]
    assert metadata["final_value"].value == printed["final_value"]
    assert PARAMS.items() <= metadata["params"].data.items()
    assert metadata["cash"].value == 50_000 and metadata["commission"].value == 0.0005
    assert metadata["data"].value == "generated demo series"
    report = Path(metadata["report"].value)
    home = Path(str(tmp_path / "trading_home"))
    assert report == home / "reports" / f"{result.run_id}.html"
    assert report.stat().st_size > 100_000 and "<html" in report.read_text()[:500].lower()
    assert "Sharpe" in metadata["summary"].value
    # a research run is no bot run: nothing that selects bot runs sees it
    run = instance.get_run_by_id(result.run_id)
    assert run is not None and run.job_name == "backtest"
    assert not any(key.startswith("trading/") for key in run.tags)
    assert RunTag.MANAGED not in run.tags


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"strategy": "no_such_strategy"}, "strategy: "),
        ({"strategy": "sma_cross", "params": {"fast": "quick"}}, "params.fast: "),
        ({"strategy": "sma_cross", "params": {"fast": 40, "slow": 30}}, "params"),
        ({"strategy": "sma_cross", "data_path": "/etc/hostname"}, "data_path: "),
        ({"strategy": "sma_cross", "start": "2021-13-01"}, "start: "),
        ({"strategy": "sma_cross", "cash": -5.0}, "cash: "),
        ({"strategy": "sma_cross", "trials": 3}, "trials: "),
        ({"strategy": "sma_cross", "search_space": {"nope": [1, 2]}}, "search_space.nope: "),
        ({"strategy": "sma_cross", "search_space": {"fast": [5]}, "metric": "luck"}, "metric: "),
    ],
)
def test_a_bad_field_fails_the_run_naming_it(
    instance: DagsterInstance, config: dict[str, Any], field: str
) -> None:
    result = _run(instance, **config)
    assert not result.success
    message = _failure(result)
    assert message.startswith(field), message
    assert not result.asset_materializations_for_node("backtest_result")


def test_a_missing_data_file_names_data_path(instance: DagsterInstance, tmp_path: Path) -> None:
    result = _run(instance, strategy="sma_cross", data_path=str(tmp_path / "absent.csv"))
    assert not result.success
    assert _failure(result).startswith("data_path: "), _failure(result)


def test_with_a_search_space_the_best_combination_is_reported(
    instance: DagsterInstance, tmp_path: Path
) -> None:
    result = _run(instance, strategy="sma_cross", search_space=SPACE, metric="sharpe", workers=2)
    metadata = _metadata(result)
    found = _cli_json(
        "--strategy",
        "sma_cross",
        "--optimize",
        json.dumps(SPACE),
        "--workers",
        "2",
        tmp_path=tmp_path,
    )
    best = found["results"][0]
    assert metadata["params"].data == best["params"]
    assert math.isclose(metadata["sharpe"].value, best["metrics"]["sharpe"], rel_tol=1e-12)
    assert metadata["search_combinations"].value == 9
    assert metadata["search_backtested"].value == 8 and metadata["search_skipped"].value == 1
    assert metadata["search_metric"].value == "sharpe"
