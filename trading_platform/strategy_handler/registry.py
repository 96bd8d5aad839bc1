"""The strategy registry: register, get, validate, list, discover.

Discovery imports every ``*.py`` file (not starting with ``_``) of the plugin directories and
registers every :class:`PlatformStrategy` subclass defined in it that has its own ``name``:
dropping a file into ``strategies/`` is all a user does.  A file that fails to import is
reported by path and the others still load.  ``register_strategy`` exists for strategies
defined outside plugin files (tests, packages) and registers into the default registry.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import threading
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticUndefined

from trading_platform.errors import ConfigError, from_validation_error
from trading_platform.strategy_handler.base import PlatformStrategy
from trading_platform.strategy_handler.custom import CustomStrategy

PLUGIN_PACKAGE = "trading_platform_plugins"


@dataclass(frozen=True)
class ParamInfo:
    name: str
    type: str
    default: Any
    bounds: str
    description: str


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    summary: str
    description: str
    source: str | None
    params: list[ParamInfo]


@dataclass(frozen=True)
class ValidatedStrategy:
    """A strategy class and the params to pass to ``cerebro.addstrategy(cls, **params)``."""

    name: str
    cls: type[PlatformStrategy]
    params: dict[str, Any]


@dataclass
class DiscoveryReport:
    loaded: list[str] = field(default_factory=list)
    strategies: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def _bounds(info: Any) -> str:
    words = []
    for constraint in info.metadata:
        for attribute, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(constraint, attribute, None)
            if value is not None:
                words.append(f"{symbol} {value}")
    return ", ".join(words)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


class StrategyRegistry:
    def __init__(self) -> None:
        self._strategies: dict[str, type[PlatformStrategy]] = {}

    def register(self, cls: type[PlatformStrategy]) -> type[PlatformStrategy]:
        """Register ``cls`` under ``cls.name`` (usable as a decorator)."""
        if not (isinstance(cls, type) and issubclass(cls, PlatformStrategy)):
            raise TypeError(f"{cls!r} is not a PlatformStrategy subclass")
        if not cls.name:
            raise ValueError(f"{cls.__qualname__} has no name")
        existing = self._strategies.get(cls.name)
        if existing is not None and _identity(existing) != _identity(cls):
            raise ValueError(
                f"strategy name {cls.name!r} is taken: {_source(existing)} and {_source(cls)}"
            )
        self._strategies[cls.name] = cls
        return cls

    def get(self, name: str) -> type[PlatformStrategy]:
        try:
            return self._strategies[name]
        except KeyError:
            raise ConfigError("strategy", self._unknown(name)) from None

    def names(self) -> list[str]:
        return sorted(self._strategies)

    def __contains__(self, name: object) -> bool:
        return name in self._strategies

    def _unknown(self, name: str) -> str:
        return f"unknown strategy {name!r}; available: {', '.join(self.names())}"

    def list(self) -> list[StrategyInfo]:
        infos = []
        for name in self.names():
            cls = self._strategies[name]
            doc = inspect.getdoc(cls) or ""
            params = [
                ParamInfo(
                    name=field_name,
                    type=_type_name(info.annotation),
                    default=None if info.default is PydanticUndefined else info.default,
                    bounds=_bounds(info),
                    description=info.description or "",
                )
                for field_name, info in cls.Params.model_fields.items()
            ]
            infos.append(
                StrategyInfo(name, doc.splitlines()[0] if doc else "", doc, _source(cls), params)
            )
        return infos

    def validate(self, name: str, params: Any) -> ValidatedStrategy:
        """Resolve ``name`` (with the ``custom`` fallback) and validate ``params``."""
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ConfigError("params", f"expected an object, found {params!r}")
        cls = self._strategies.get(name)
        if cls is None:
            if "entry_logic" in params or "exit_logic" in params:
                cls = CustomStrategy
            else:
                raise ConfigError("strategy", self._unknown(name))
        try:
            model = cls.Params.model_validate(params)
            cls.check_params(model)
        except ValidationError as exc:
            raise from_validation_error(exc, "params", unknown="unknown parameter") from None
        except ValueError as exc:
            raise ConfigError("params", str(exc)) from None
        return ValidatedStrategy(cls.name, cls, model.model_dump(mode="json"))

    def discover(self, paths: Iterable[Path]) -> DiscoveryReport:
        report = DiscoveryReport()
        for directory in paths:
            directory = Path(directory).expanduser()
            if not directory.is_dir():
                report.errors[str(directory)] = "not a directory"
                continue
            for path in sorted(directory.glob("*.py")):
                if path.name.startswith("_"):
                    continue
                try:
                    module = _import_plugin(path)
                except BaseException as exc:
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    report.errors[str(path)] = _one_line(exc)
                    continue
                report.loaded.append(str(path))
                for cls in _strategies_in(module):
                    try:
                        self.register(cls)
                        report.strategies.append(cls.name)
                    except (ValueError, TypeError) as exc:
                        report.errors[str(path)] = str(exc)
        return report


def _identity(cls: type) -> tuple[str, str]:
    return (_source(cls) or cls.__module__, cls.__qualname__)


def _source(cls: type) -> str | None:
    try:
        return inspect.getsourcefile(cls)
    except TypeError:
        return None


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _import_plugin(path: Path) -> Any:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"{PLUGIN_PACKAGE}.{path.stem}_{digest}"
    existing = sys.modules.get(module_name)
    if existing is not None and getattr(existing, "__plugin_mtime__", None) == path.stat().st_mtime:
        return existing
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    setattr(module, "__plugin_mtime__", path.stat().st_mtime)  # noqa: B010 - a new attribute
    return module


def _strategies_in(module: Any) -> list[type[PlatformStrategy]]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, PlatformStrategy)
        and value.__module__ == module.__name__
        and "name" in vars(value)
        and value.name
    ]


# -- the default registry ------------------------------------------------------------------
_default = StrategyRegistry()
_default.register(CustomStrategy)
_lock = threading.Lock()


def register_strategy(cls: type[PlatformStrategy]) -> type[PlatformStrategy]:
    """Decorator: register into the default registry."""
    return _default.register(cls)


def default_strategy_paths(extra: Sequence[Path] = ()) -> list[Path]:
    """The repository's ``strategies/``, then ``TRADING_STRATEGY_PATHS``, then ``extra``."""
    paths = []
    shipped = Path(__file__).resolve().parents[2] / "strategies"
    if shipped.is_dir():
        paths.append(shipped)
    for entry in os.environ.get("TRADING_STRATEGY_PATHS", "").split(os.pathsep):
        if entry.strip():
            paths.append(Path(entry.strip()))
    paths.extend(Path(p) for p in extra)
    unique: list[Path] = []
    for path in paths:
        if path.resolve() not in [p.resolve() for p in unique]:
            unique.append(path)
    return unique


def load_registry(extra_paths: Sequence[Path] = ()) -> tuple[StrategyRegistry, DiscoveryReport]:
    """A registry with ``custom``, the default registry's strategies and every plugin found.

    The same registry object comes back while no plugin file changed (callers cache
    validation results by it), so calling this every sensor tick costs a directory listing.
    """
    paths = default_strategy_paths(extra_paths)
    fingerprint = (tuple(_default.names()), tuple(_files_of(paths)))
    with _lock:
        cached = _loaded.get(fingerprint)
        if cached is not None:
            return cached
        registry = StrategyRegistry()
        for name in _default.names():
            registry.register(_default.get(name))
        report = registry.discover(paths)
        if len(_loaded) > 16:
            _loaded.clear()
        _loaded[fingerprint] = (registry, report)
        return registry, report


_loaded: dict[tuple[Any, ...], tuple[StrategyRegistry, DiscoveryReport]] = {}


def _files_of(paths: Sequence[Path]) -> list[tuple[str, float]]:
    files = []
    for directory in paths:
        try:
            for path in sorted(Path(directory).expanduser().glob("*.py")):
                files.append((str(path), path.stat().st_mtime))
        except OSError:
            files.append((str(directory), -1.0))
    return files
