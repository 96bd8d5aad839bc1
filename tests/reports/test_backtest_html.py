"""The HTML report: written by ``backtest --report``, self-contained, and rendered by a real
browser (Debian's headless Chromium through Playwright, as tests/e2e/test_browser.py does;
never a downloaded browser).  One browser launch; no Dagster."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from trading_platform.metrics.report_figures import FIGURES
from trading_platform.reports.backtest_html import Section, render_report, write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: the charts, in page order, and the plotly trace types each must draw
CHARTS = [
    ["scatter", "scatter"],  # equity and buy & hold
    ["scatter"],  # underwater
    ["candlestick", "scatter", "scatter"],  # price, entries, exits
    ["heatmap"],  # monthly returns
]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict]:
    """A demo backtest through the CLI, with ``--json`` and ``--report``."""
    from click.testing import CliRunner

    from trading_platform.cli import cli

    path = tmp_path_factory.mktemp("report") / "sub" / "report.html"
    result = CliRunner().invoke(
        cli,
        ["backtest", "--strategy", "sma_cross", "--params", '{"fast": 5, "slow": 20}']
        + ["--json", "--report", str(path)],
    )
    assert result.exit_code == 0, result.output
    assert f"report written to {path}" in result.stderr
    return path, json.loads(result.stdout)


def test_json_has_every_figure(report) -> None:
    _, data = report
    assert list(data["metrics"]) == [figure.key for figure in FIGURES]
    assert data["metrics"]["trade_count"] == len(data["trades"]) > 0


def test_the_file_stands_alone(report) -> None:
    path, data = report
    page = path.read_text()
    # nothing fetched: no script, stylesheet or image by address (plotly.js is inline)
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert "Plotly.newPlot" in page and len(page) > 1_000_000
    for figure in FIGURES:
        assert f'data-key="{figure.key}"' in page, figure.key


def test_extra_sections_and_a_title(tmp_path) -> None:
    """A walk-forward adds its own sections to the same report."""
    source = _result()
    page = render_report(
        source, title="walk-forward <oos>", extra_sections=[Section("Windows", "<p>w1</p>")]
    )
    assert "<title>walk-forward &lt;oos&gt;</title>" in page
    assert "<h2>Windows</h2>\n<p>w1</p>" in page
    assert write_report(tmp_path / "a" / "b.html", source).stat().st_size > 1_000_000


def test_unwritable_report_is_one_clear_error(tmp_path) -> None:
    from click.testing import CliRunner

    from trading_platform.cli import cli

    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(
        cli, ["backtest", "--strategy", "sma_cross", "--report", str(blocker / "r.html")]
    )
    assert result.exit_code != 0
    assert "--report: cannot write" in result.output
    assert "Traceback" not in result.output


def test_charts_render_in_chromium(report, tmp_path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    path, data = report
    fetched: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})

            def refuse(route) -> None:  # offline: any request but the file itself fails
                if not route.request.url.startswith("file://"):
                    fetched.append(route.request.url)
                    route.abort()
                else:
                    route.continue_()

            page.route("**/*", refuse)
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4"
                " && document.querySelectorAll('.js-plotly-plot').length == 4",
                timeout=60_000,
            )
            charts = page.evaluate(
                """() => [...document.querySelectorAll('.js-plotly-plot')].map(el => ({
                    types: el._fullData.map(t => t.type),
                    points: el._fullData.map(t => (t.x || []).length),
                    drawn: el.querySelectorAll(
                        '.scatterlayer .trace, .boxlayer .trace, .heatmaplayer .hm image'
                    ).length,
                    candles: el.querySelectorAll('.boxlayer .trace path.box').length,
                    cells: el.querySelectorAll('.heatmaplayer text').length,
                }))"""
            )
            # hover the first entry marker: its logic name shows up
            page.evaluate(
                """() => { const el = document.querySelectorAll('.js-plotly-plot')[2];
                    Plotly.Fx.hover(el, [{curveNumber: 1, pointNumber: 0}]); }"""
            )
            page.wait_for_selector(".hoverlayer .hovertext", timeout=10_000)
            hover = page.evaluate(
                """() => document.querySelectorAll('.js-plotly-plot')[2]
                    .querySelector('.hoverlayer').textContent"""
            )
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert not fetched, f"the report asked the network for {fetched}"
    assert [chart["types"] for chart in charts] == CHARTS
    assert all(chart["drawn"] >= len(chart["types"]) for chart in charts), charts
    trades = len(data["trades"])
    assert charts[2]["points"][1:] == [trades, trades]  # every entry and exit marked
    assert charts[2]["candles"] == data["bars"]  # 2,000 bars: not merged
    start, end = dt.date.fromisoformat(data["start"][:10]), dt.date.fromisoformat(data["end"][:10])
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    assert charts[3]["cells"] == months  # one labelled cell a month
    assert f"entry: {data['trades'][0]['entry_logic']}" in hover
    assert (tmp_path / "report.png").stat().st_size > 50_000


def _result():
    """A small backtest result of the demo data, built by the engine."""
    from trading_platform.config import validate_bot_config
    from trading_platform.contract import Mode
    from trading_platform.engine.backtest import run_backtest
    from trading_platform.strategy_handler import load_registry

    registry, _ = load_registry(())
    config = validate_bot_config(
        name="report",
        strategy="sma_cross",
        mode=Mode.BACKTEST,
        exchange="replay",
        symbol="BTC/USDT",
        timeframe="1d",
        config={"params": {"fast": 5, "slow": 20}, "data": {"bars": 300}},
        registry=registry,
    )
    return run_backtest(config, registry)


def test_many_bars_are_merged_into_fewer_candles() -> None:
    import pandas as pd

    from trading_platform.reports.backtest_html import MAX_CANDLES, candles

    # 2,001 bars -> 2 bars a candle (ceil(2001 / 2000)), 1,001 candles; bar i has open i,
    # high i + 10, low i - 10, close i + 1: candle 0 = bars 0 and 1 -> 0, 11, -10, 2
    index = pd.date_range("2024-01-01", periods=MAX_CANDLES + 1, freq="h")
    values = pd.Series(range(MAX_CANDLES + 1), index=index, dtype=float)
    prices = pd.DataFrame(
        {"open": values, "high": values + 10, "low": values - 10, "close": values + 1}
    )
    merged, size = candles(prices)
    assert size == 2 and len(merged) == 1_001
    assert list(merged.iloc[0]) == [0.0, 11.0, -10.0, 2.0]
    assert list(merged.iloc[-1]) == [2000.0, 2010.0, 1990.0, 2001.0]  # the odd bar alone
    assert merged.index[1] == index[2]
    assert candles(prices.iloc[:MAX_CANDLES])[1] == 1  # up to MAX_CANDLES: as they are
