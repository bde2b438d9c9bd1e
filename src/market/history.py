"""Candle and funding files read into the strategy language's arrays (:mod:`src.strategy.data`).

The one place that turns a file into :class:`Candles` / :class:`Funding`, so the backtester, the
scripts and the tests load data exactly as the replay feed does.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from src.market.candles_io import load_candles as load_frame
from src.strategy.data import Candles, Funding


def load_candles(path: str | Path) -> Candles:
    """Read a candle file through the one strict loader (:mod:`src.market.candles_io`): CSV, CSV.gz or npz."""
    return Candles.from_frame(load_frame(path))


def load_funding(path: str | Path) -> Funding:
    """Read a (gzip) CSV ``timestamp,funding_rate`` file."""
    return Funding.from_frame(pd.read_csv(path))
