"""The ``trading-platform`` command, one module per command group.

:mod:`.root` holds the click group and turns operator errors into one line; the command
modules register themselves there.  This package only re-exports what the console script
(``trading_platform.cli:main``) and the tests need.
"""

from trading_platform.cli.root import cli, main

__all__ = ["cli", "main"]
