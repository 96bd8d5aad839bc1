"""``--optimize`` parsing: lists, inclusive ranges typed by the strategy's ``Params``, bounds
from ``Params``, and a clear error naming ``optimize.<param>`` for every bad input."""

from __future__ import annotations

import pytest
from pydantic import Field

from trading_platform.errors import ConfigError
from trading_platform.research.search_space import (
    MAX_GRID,
    check_grid_size,
    parse_search_space,
)
from trading_platform.strategy_handler import StrategyParams


class Params(StrategyParams):
    fast: int = Field(10, ge=2, le=500)
    slow: int = Field(30, gt=1, lt=1001)
    level: float = Field(30.0, gt=0, le=100)
    factor: float = Field(2.0, ge=0.5, le=10)
    label: str = "x"
    flag: bool = False


def values(spec):
    return {d.name: list(d.values) for d in parse_search_space(spec, Params).dimensions}


def test_the_issue_example_stop_included() -> None:
    parsed = values({"fast": [5, 10, 20], "slow": "20:100:10"})
    assert parsed == {"fast": [5, 10, 20], "slow": [20, 30, 40, 50, 60, 70, 80, 90, 100]}
    space = parse_search_space({"fast": [5, 10, 20], "slow": "20:100:10"}, Params)
    assert space.size == 27
    grid = list(space.grid())
    assert grid[0] == {"fast": 5, "slow": 20} and grid[1] == {"fast": 5, "slow": 30}
    assert grid[-1] == {"fast": 20, "slow": 100} and len(grid) == 27


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("20:95:10", [20, 30, 40, 50, 60, 70, 80, 90]),  # a stop off the grid is not reached
        ("3:6", [3, 4, 5, 6]),  # int step defaults to 1
        (" 7 : 7 ", [7]),
        (":5", [2, 3, 4, 5]),  # start from Params' ge
        ("498:", [498, 499, 500]),  # stop from Params' le
    ],
)
def test_int_ranges(spec, expected) -> None:
    assert values({"fast": spec})["fast"] == expected


def test_exclusive_int_bounds_are_the_next_whole_numbers() -> None:
    assert values({"slow": ":4"})["slow"] == [2, 3, 4]
    assert values({"slow": "999:"})["slow"] == [999, 1000]


def test_float_ranges_are_decimal_and_typed() -> None:
    assert values({"factor": "0.5:1.1:0.1"})["factor"] == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    assert values({"level": "10:30:10"})["level"] == [10.0, 20.0, 30.0]
    assert all(isinstance(v, float) for v in values({"level": "10:30:10"})["level"])
    assert values({"factor": ":1:0.25"})["factor"] == [0.5, 0.75, 1.0]


def test_fixed_values_and_lists_of_any_type() -> None:
    assert values({"fast": 12, "label": ["a", "b"], "flag": [True, False]}) == {
        "fast": [12],
        "label": ["a", "b"],
        "flag": [True, False],
    }


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        ({"fats": [5]}, "optimize.fats", "unknown parameter; the strategy has: fast, slow"),
        ({"fast": "1:10"}, "optimize.fast", "1: Input should be greater than or equal to 2"),
        ({"fast": [5, 600]}, "optimize.fast", "600: Input should be less than or equal to 500"),
        ({"fast": ["5"]}, "optimize.fast", "'5': Input should be a valid integer"),
        ({"fast": "a:10"}, "optimize.fast", "start is not a number: 'a'"),
        ({"fast": "2:10:0.5"}, "optimize.fast", "step '0.5' is not whole"),
        ({"fast": "2:10:0"}, "optimize.fast", "the step must be positive"),
        ({"fast": "10:2"}, "optimize.fast", "start 10 is above stop 2"),
        ({"fast": "2:3:4:5"}, "optimize.fast", "expected a range 'start:stop:step'"),
        ({"fast": []}, "optimize.fast", "an empty list"),
        ({"fast": [5, 5]}, "optimize.fast", "listed twice"),
        ({"fast": [[5]]}, "optimize.fast", "expected plain values"),
        ({"level": "1:10"}, "optimize.level", "give the range's step"),
        ({"level": ":10:1"}, "optimize.level", "give the range's start"),
        ({"factor": "1:nan:1"}, "optimize.factor", "must be finite"),
        ({"label": "a:b"}, "optimize.label", "a range needs an int or float parameter"),
        ({"fast": "2:200000"}, "optimize.fast", "more than 100,000"),
    ],
)
def test_bad_input_names_the_field(spec, field, fragment) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_search_space(spec, Params)
    assert caught.value.field == field
    assert fragment in caught.value.problem


@pytest.mark.parametrize("spec", [{}, [], "fast"])
def test_not_an_object(spec) -> None:
    with pytest.raises(ConfigError, match="expected an object of parameters") as caught:
        parse_search_space(spec, Params)
    assert caught.value.field == "optimize"


def test_an_exhaustive_grid_is_capped() -> None:
    space = parse_search_space({"fast": "2:500", "slow": "2:1000"}, Params)
    assert space.size > MAX_GRID
    with pytest.raises(ConfigError, match="use --trials|sample them with --trials"):
        check_grid_size(space)
    check_grid_size(parse_search_space({"fast": "2:500"}, Params))
