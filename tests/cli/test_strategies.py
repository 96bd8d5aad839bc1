"""``trading-platform strategies``: parameters are listed, and a broken plugin is a warning."""

from __future__ import annotations

import json
from pathlib import Path


def test_strategies_list_shows_parameters(invoke) -> None:
    result = invoke("strategies", "list", "--json")
    infos = {info["name"]: info for info in json.loads(result.output)}
    assert {p["name"]: p["default"] for p in infos["sma_cross"]["params"]} == {
        "fast": 10,
        "slow": 30,
    }
    text = invoke("strategies", "list").output
    assert "fast: int = 10 (>= 2, <= 500)" in text


def test_strategies_list_reports_a_broken_plugin(invoke, tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import nowhere_to_be_found\n")
    result = invoke("strategies", "list", "--strategy-path", str(tmp_path))
    assert result.exit_code == 0
    assert "broken.py" in result.output and "nowhere_to_be_found" in result.output
    assert "sma_cross" in result.output
