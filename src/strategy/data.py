"""Market data containers for the evaluator: candles and perp funding as plain numpy arrays.

Kept apart from the engine so the live runner, the CLI and the tests load data the same way.
Timestamps are UTC epoch milliseconds of the candle *open*, like the exchange and the shared
data files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
    refs: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False)
    """Closes of other symbols on this series' bars (NaN where that symbol has no bar at the same
    open time), read by the `rel_strength` indicator; see `with_reference`."""

    def __post_init__(self) -> None:
        n = self.ts.shape[0]
        for name in _CANDLE_COLUMNS[1:]:
            if getattr(self, name).shape != (n,):
                raise ValueError(f"candles column {name!r} has a different length than timestamp")
        for sym, ref in self.refs.items():
            if ref.shape != (n,):
                raise ValueError(f"reference closes of {sym} have a different length than timestamp")

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Candles:
        """Build from a DataFrame with `timestamp, open, high, low, close, volume` columns."""
        missing = [c for c in _CANDLE_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"candle frame lacks columns {missing}")
        o, h, lo, c, v = (np.ascontiguousarray(frame[k].to_numpy(dtype=np.float64)) for k in _CANDLE_COLUMNS[1:])
        return cls(np.ascontiguousarray(frame["timestamp"].to_numpy(dtype=np.int64)), o, h, lo, c, v)

    def slice(self, start: int, stop: int) -> Candles:
        """Bars [start, stop) as a new container (views, no copy)."""
        sl = slice(start, stop)
        return Candles(self.ts[sl], self.open[sl], self.high[sl], self.low[sl], self.close[sl], self.volume[sl],
                       refs={k: v[sl] for k, v in self.refs.items()})

    def with_reference(self, symbol: str, other: Candles) -> Candles:
        """A copy that also carries `other`'s closes, matched bar by bar on the open time.

        Only a bar of `other` with the same open time is used (it closes at the same moment, so
        it is known at this bar's close); a missing bar is NaN, never a stale or later price.
        """
        idx = np.searchsorted(other.ts, self.ts, side="left")
        safe = np.clip(idx, 0, max(len(other) - 1, 0))
        hit = (idx < len(other)) & (other.ts[safe] == self.ts) if len(other) else np.zeros(len(self), bool)
        closes = np.where(hit, other.close[safe] if len(other) else np.nan, np.nan)
        return Candles(self.ts, self.open, self.high, self.low, self.close, self.volume,
                       refs={**self.refs, symbol: np.ascontiguousarray(closes, dtype=np.float64)})

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



def with_peers(series: Mapping[str, Candles]) -> dict[str, Candles]:
    """Each symbol's candles carrying every other symbol's closes (cross-asset rules read them)."""
    return {sym: _attach(c, {o: oc for o, oc in series.items() if o != sym}) for sym, c in series.items()}


def _attach(c: Candles, others: Mapping[str, Candles]) -> Candles:
    for sym, other in others.items():
        c = c.with_reference(sym, other)
    return c
