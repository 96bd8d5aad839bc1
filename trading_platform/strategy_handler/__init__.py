"""Strategy registry, plugin discovery and the composable ``CustomStrategy``."""

from trading_platform.strategy_handler.base import PlatformStrategy, StrategyParams
from trading_platform.strategy_handler.custom import CustomStrategy
from trading_platform.strategy_handler.logic import LOGIC_BLOCKS, LogicBlock
from trading_platform.strategy_handler.registry import (
    DiscoveryReport,
    ParamInfo,
    StrategyInfo,
    StrategyRegistry,
    ValidatedStrategy,
    default_strategy_paths,
    load_registry,
    register_strategy,
)

__all__ = [
    "LOGIC_BLOCKS",
    "CustomStrategy",
    "DiscoveryReport",
    "LogicBlock",
    "ParamInfo",
    "PlatformStrategy",
    "StrategyInfo",
    "StrategyParams",
    "StrategyRegistry",
    "ValidatedStrategy",
    "default_strategy_paths",
    "load_registry",
    "register_strategy",
]
