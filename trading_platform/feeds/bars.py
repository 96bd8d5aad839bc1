"""One closed bar, as every live feed hands it to the strategy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    time: dt.datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    #: a candle delivered late, while catching up after an outage: indicators see it, but no
    #: order may be placed on it (its price is history by the time it arrives)
    stale: bool = False
