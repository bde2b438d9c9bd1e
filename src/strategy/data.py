"""Market data containers for the evaluator: candles and perp funding as plain numpy arrays.

Kept apart from the engine so the live runner, the CLI and the tests load data the same way.
Timestamps are UTC epoch milliseconds of the candle *open*, like the exchange and the shared
data files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_CANDLE_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Candles:
    """OHLCV bars, oldest first. `ts` is int64 open time in ms; prices in quote, volume in base."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        n = self.ts.shape[0]
        for name in _CANDLE_COLUMNS[1:]:
            if getattr(self, name).shape != (n,):
                raise ValueError(f"candles column {name!r} has a different length than timestamp")

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Candles:
        """Build from a DataFrame with `timestamp, open, high, low, close, volume` columns."""
        missing = [c for c in _CANDLE_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"candle frame lacks columns {missing}")
        cols = {c: np.ascontiguousarray(frame[c].to_numpy(dtype=np.float64)) for c in _CANDLE_COLUMNS[1:]}
        return cls(ts=np.ascontiguousarray(frame["timestamp"].to_numpy(dtype=np.int64)), **cols)

    def slice(self, start: int, stop: int) -> Candles:
        """Bars [start, stop) as a new container (views, no copy)."""
        return Candles(*(getattr(self, c if c != "timestamp" else "ts")[start:stop] for c in _CANDLE_COLUMNS))

    def step_ms(self) -> int:
        """The bar spacing, taken as the median timestamp difference (robust to gaps)."""
        if len(self) < 2:
            return 0
        return int(np.median(np.diff(self.ts[: min(len(self), 10_000)])))


@dataclass(frozen=True)
class Funding:
    """Perp funding settlements: `ts` (ms) and `rate` (fraction of notional per settlement)."""

    ts: np.ndarray
    rate: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Funding:
        """Build from a DataFrame with `timestamp, funding_rate` columns."""
        return cls(ts=frame["timestamp"].to_numpy(dtype=np.int64),
                   rate=frame["funding_rate"].to_numpy(dtype=np.float64))

    def settled_per_bar(self, candle_ts: np.ndarray, step_ms: int) -> np.ndarray:
        """Sum of settlements falling inside each bar [open, open + step) → charged at that bar."""
        out = np.zeros(candle_ts.shape[0])
        idx = np.searchsorted(candle_ts, self.ts, side="right") - 1
        inside = (idx >= 0) & (self.ts < candle_ts[np.clip(idx, 0, None)] + step_ms)
        np.add.at(out, idx[inside], self.rate[inside])
        return out

    def known_at_close(self, candle_ts: np.ndarray, step_ms: int, period: int = 1) -> np.ndarray:
        """Mean of the last `period` settlements already settled when bar i closes; NaN before.

        A settlement at exactly the next bar's open is not yet known at this bar's close.
        """
        if self.rate.shape[0] == 0:
            return np.full(candle_ts.shape[0], np.nan)
        from src.strategy.indicators import sma  # local: keeps this module free of numba at import

        smooth = sma(np.ascontiguousarray(self.rate), period) if period > 1 else self.rate
        last = np.searchsorted(self.ts, candle_ts + step_ms, side="left") - 1
        return np.where(last >= 0, smooth[np.clip(last, 0, None)], np.nan)

