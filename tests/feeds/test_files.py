"""Loading OHLCV files (feeds/files.py): header spellings, formats, date ranges and every kind
of bad file."""

from pathlib import Path

import pandas as pd
import pytest

from trading_platform.feeds.files import DataError, load_ohlcv


def _write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def test_backtrader_style_headers(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bt.txt",
        """
Date,Open,High,Low,Close,Volume,OpenInterest
2006-01-02,10,11,9,10.5,100,7
2006-01-03,10.5,12,10,11.5,200,8
""",
    )
    frame = load_ohlcv(path)
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "openinterest"]
    assert frame.index.name == "datetime"
    assert frame.loc["2006-01-03", "close"] == 11.5
    assert frame["openinterest"].tolist() == [7.0, 8.0]


def test_yahoo_style_with_adj_close_trades_the_raw_close(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "yahoo.csv",
        """
Date,Open,High,Low,Close,Adj Close,Volume
1995-01-03,2.17,2.19,2.11,2.11,1.88,36301200
""",
    )
    frame = load_ohlcv(path)
    assert frame["close"].iloc[0] == 2.11
    assert frame["openinterest"].iloc[0] == 0.0


def test_epoch_millisecond_timestamps_and_short_names(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "ccxt.csv",
        """
timestamp,o,h,l,c,v
1704067200000,1,2,0.5,1.5,10
1704067260000,1.5,2,1,1.8,12
""",
    )
    frame = load_ohlcv(path)
    assert frame.index[0] == pd.Timestamp("2024-01-01 00:00:00")
    assert frame.index[1] == pd.Timestamp("2024-01-01 00:01:00")


def test_timezone_aware_datetimes_become_naive_utc(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "tz.csv",
        """
Datetime,Open,High,Low,Close,Volume
2024-01-01 09:30:00-05:00,1,2,0.5,1.5,10
""",
    )
    assert load_ohlcv(path).index[0] == pd.Timestamp("2024-01-01 14:30:00")


def test_parquet_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "Date": pd.date_range("2024-01-01", periods=3, freq="D"),
            "Open": [1.0, 2, 3],
            "High": [2.0, 3, 4],
            "Low": [0.5, 1, 2],
            "Close": [1.5, 2.5, 3.5],
            "Volume": [1.0, 2, 3],
        }
    )
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    loaded = load_ohlcv(path)
    assert loaded["close"].tolist() == [1.5, 2.5, 3.5]


def test_date_range_end_is_inclusive(tmp_path: Path) -> None:
    rows = "\n".join(f"2024-01-0{d},1,2,0.5,1.5,1" for d in range(1, 6))
    path = _write(tmp_path / "range.csv", "Date,Open,High,Low,Close,Volume\n" + rows)
    frame = load_ohlcv(path, start="2024-01-02", end="2024-01-04")
    assert [ts.day for ts in frame.index] == [2, 3, 4]


def test_real_daily_series(shared_data: Path) -> None:
    frame = load_ohlcv(shared_data / "orcl-1995-2014.txt")
    assert len(frame) == 5036
    assert frame.index[0] == pd.Timestamp("1995-01-03")
    assert frame["high"].ge(frame["low"]).all()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Date,Open,High,Low\n2024-01-01,1,2,0.5", "missing column(s): close"),
        ("Open,High,Low,Close\n1,2,0.5,1.5", "missing column(s): date/datetime/timestamp"),
        (
            "Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n2024-01-01,1,2,0.5,1.5",
            "not in ascending order: line 3 is earlier than line 2",
        ),
        (
            "Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,1.5\n2024-01-01,1,2,0.5,1.5",
            "duplicate timestamp on line 2 and line 3",
        ),
        (
            "Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,1.5\n2024-01-02,1,2,0.5,",
            "NaN or non-numeric value in column 'Close' on line 3",
        ),
        (
            "Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,abc",
            "column 'Close' on line 2",
        ),
        ("Date,Open,High,Low,Close\nnot-a-date,1,2,0.5,1.5", "unreadable timestamp on line 2"),
        ("Date,Open,High,Low,Close\n2024-01-01,1,0.5,2,1.5", "high below low on line 2"),
        ("", "the file is empty"),
    ],
    ids=["no-close", "no-time", "unsorted", "duplicate", "nan", "text", "bad-date", "hl", "empty"],
)
def test_bad_files_are_explained(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError) as error:
        load_ohlcv(path)
    assert expected in str(error.value)
    if text:
        assert str(path) in str(error.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"data file not found: {tmp_path}/no-such-file.csv"):
        load_ohlcv(tmp_path / "no-such-file.csv")


def test_empty_date_range_names_what_the_file_covers(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,1.5")
    with pytest.raises(DataError, match=r"file covers 2024-01-01 .. 2024-01-01"):
        load_ohlcv(path, start="2025-01-01")


SECRET_LINE = "SECRET_KEY=hunter2-very-secret"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{SECRET_LINE}\nOTHER=1\n", "missing column(s): date/datetime/timestamp, open"),
        (
            f"Date,Open,High,Low,Close\n{SECRET_LINE},1,2,0.5,1.5\n",
            "unreadable timestamp on line 2",
        ),
        (
            f"Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,{SECRET_LINE}\n",
            "NaN or non-numeric value in column 'Close' on line 2",
        ),
        (f"Date,Open,High,Low,Close\n2024-01-01,1,2\n{SECRET_LINE},a,b,c,d,e,f\n", "line 3"),
        (f"{SECRET_LINE}\xff\n", "not UTF-8 text (byte 30)"),
    ],
    ids=["header", "timestamp-cell", "price-cell", "ragged-line", "not-utf8"],
)
def test_errors_name_the_problem_never_the_contents(
    tmp_path: Path, text: str, expected: str
) -> None:
    """A file that is not market data (a ``.env``) is reported by position and kind only: the
    message reaches the bot's owner through last_error, the audit log and notifications."""
    path = tmp_path / ".env"
    path.write_bytes(text.encode("utf-8", "surrogateescape").replace(b"\xc3\xbf", b"\xff"))
    with pytest.raises(DataError) as error:
        load_ohlcv(path)
    message = str(error.value)
    assert str(path) in message and expected in message
    assert "hunter2" not in message and "SECRET_KEY" not in message
