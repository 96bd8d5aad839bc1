"""Data files are fenced in (feeds/data_dirs.py): a bot's ``data.path`` names a file in the
data directories, never any file the platform can read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trading_platform.errors import ConfigError
from trading_platform.feeds.data_dirs import confine, data_dirs
from trading_platform.feeds.files import load_ohlcv

BARS = "Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,1.5\n"


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    first, second = tmp_path / "data", tmp_path / "more"
    first.mkdir()
    second.mkdir()
    monkeypatch.setenv("TRADING_DATA_DIRS", os.pathsep.join([str(first), str(second)]))
    return first, second


def test_default_is_trading_home_data_and_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADING_DATA_DIRS")
    home = Path(os.environ["TRADING_HOME"]).resolve()
    assert data_dirs() == (home / "data", home / "demo")


def test_inside_either_directory(dirs: tuple[Path, Path]) -> None:
    first, second = dirs
    assert confine("prices.csv") == first / "prices.csv"  # relative to the first
    assert confine(second / "sub" / "p.csv") == second / "sub" / "p.csv"


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "../.env", "sub/../../x.csv", "~/.ssh/id_rsa"],
)
def test_outside_is_refused(dirs: tuple[Path, Path], path: str) -> None:
    with pytest.raises(ConfigError) as error:
        confine(path)
    assert error.value.field == "config.data.path"
    assert "outside the data directories (TRADING_DATA_DIRS=" in error.value.problem


def test_a_symlink_cannot_lead_out(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    secret = tmp_path / ".env"
    secret.write_text("SECRET_KEY=hunter2-very-secret\n")
    (dirs[0] / "prices.csv").symlink_to(secret)
    with pytest.raises(ConfigError, match="outside the data directories"):
        confine("prices.csv")
    with pytest.raises(ConfigError, match="outside the data directories"):
        load_ohlcv(dirs[0] / "prices.csv")  # checked again where the file is opened


def test_a_sibling_with_a_common_prefix_is_outside(dirs: tuple[Path, Path]) -> None:
    sibling = dirs[0].with_name("data-evil")
    sibling.mkdir()
    with pytest.raises(ConfigError):
        confine(sibling / "p.csv")


def test_loader_reads_inside_and_refuses_outside(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    (dirs[0] / "p.csv").write_text(BARS)
    assert len(load_ohlcv("p.csv")) == 1
    (tmp_path / "outside.csv").write_text(BARS)
    with pytest.raises(ConfigError):
        load_ohlcv(tmp_path / "outside.csv")
    assert len(load_ohlcv(tmp_path / "outside.csv", data_dirs=[tmp_path])) == 1
