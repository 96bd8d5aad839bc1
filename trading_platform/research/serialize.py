"""Search and walk-forward results as JSON-ready dicts: what ``--json`` prints, and the plain
data a report renders (per-window metrics, the stitched out-of-sample equity curve)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from trading_platform.research.evaluate import Trial
from trading_platform.research.optimize import SearchResult
from trading_platform.research.walk_forward import WalkForwardResult, WindowResult


def encode(value: Any) -> Any:
    """Times as ISO text, infinities as ``"inf"``/``"-inf"`` (JSON has neither)."""
    if isinstance(value, dt.datetime):  # pandas' Timestamp too
        return value.isoformat()
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    return value


def trial_json(trial: Trial, rank: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"varied": trial.varied, "params": trial.params}
    if rank is not None:
        data = {"rank": rank, **data}
    if trial.skipped is not None:
        data["reason"] = trial.skipped
    else:
        data["final_value"] = trial.final_value
        data["metrics"] = encode(trial.metrics)
    return data


def search_json(result: SearchResult) -> dict[str, Any]:
    return {
        "metric": result.metric,
        "direction": result.direction,
        "combinations": result.combinations,
        "backtested": len(result.ranked),
        "bars": result.stop - result.start,
        "elapsed_seconds": round(result.elapsed_seconds, 3),
        "results": [trial_json(trial, rank) for rank, trial in enumerate(result.ranked, 1)],
        "skipped": [trial_json(trial) for trial in result.skipped],
    }


def window_json(result: WalkForwardResult, window: WindowResult) -> dict[str, Any]:
    bounds = window.window
    train = result.period(bounds.train_start, bounds.test_start)
    test = result.period(bounds.test_start, bounds.test_stop)
    return {
        "window": bounds.index + 1,
        "train": {"start": encode(train[0]), "end": encode(train[1]), "bars": bounds.train_bars},
        "test": {"start": encode(test[0]), "end": encode(test[1]), "bars": bounds.test_bars},
        "params": window.params,
        "in_sample": encode(window.in_sample),
        "out_of_sample": encode(window.out_of_sample),
        "efficiency": window.efficiency,
        "combinations": len(window.search.ranked),
        "skipped": len(window.search.skipped),
        "problem": window.problem,
    }


def walk_forward_json(result: WalkForwardResult) -> dict[str, Any]:
    return {
        "metric": result.metric,
        "train": result.train_fraction,
        "initial_value": result.initial_value,
        "efficiency": result.efficiency,
        "out_of_sample": encode(result.out_of_sample),
        "windows": [window_json(result, window) for window in result.windows],
        "equity": [
            [encode(time.to_pydatetime()), float(value)]
            for time, value in zip(result.equity.index, result.equity, strict=True)
        ],
    }
