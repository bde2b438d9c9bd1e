"""The market cache: the rolling window of closed candles (and funding) per symbol.

The strategy runner, the AI brain and the reports all read candles from here, so everyone sees
the same validated history. Arrays grow by doubling, so appending a candle is O(1) amortised and
reading a window is a slice, not a copy of a DataFrame.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from src.core.events import CandleClosed

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


class SymbolSeries:
    """Columnar candle storage for one symbol; timestamps strictly increasing."""

    def __init__(self, capacity: int = 4096) -> None:
        self._ts = np.zeros(capacity, dtype=np.int64)
        self._ohlcv = np.zeros((capacity, 5), dtype=np.float64)
        self.n = 0

    def append(self, ts_ms: int, o: float, h: float, low: float, c: float, v: float) -> bool:
        """Add a candle; a duplicate or older timestamp, or a price that cannot be real (NaN, inf,
        ≤ 0), is ignored (returns False). The data gate refuses those first; this is the backstop."""
        if self.n and ts_ms <= self._ts[self.n - 1]:
            return False
        if not all(math.isfinite(x) and x > 0 for x in (o, h, low, c)) or not (math.isfinite(v) and v >= 0):
            return False
        if self.n == len(self._ts):
            self._ts = np.concatenate([self._ts, np.zeros_like(self._ts)])
            self._ohlcv = np.concatenate([self._ohlcv, np.zeros_like(self._ohlcv)])
        self._ts[self.n] = ts_ms
        self._ohlcv[self.n] = (o, h, low, c, v)
        self.n += 1
        return True

    def extend(self, frame: pd.DataFrame) -> None:
        for row in frame.itertuples(index=False):
            self.append(int(row.timestamp), row.open, row.high, row.low, row.close, row.volume)

    @property
    def timestamps(self) -> np.ndarray:
        return self._ts[: self.n]

    @property
    def ohlcv(self) -> np.ndarray:
        return self._ohlcv[: self.n]

    def last_close(self) -> float | None:
        return float(self._ohlcv[self.n - 1, 3]) if self.n else None

    def frame(self, last: int | None = None) -> pd.DataFrame:
        """The last ``last`` candles (all if None) as a DataFrame with the standard columns."""
        start = 0 if last is None else max(0, self.n - last)
        data = self._ohlcv[start: self.n]
        return pd.DataFrame({
            "timestamp": self._ts[start: self.n].copy(),
            "open": data[:, 0].copy(), "high": data[:, 1].copy(), "low": data[:, 2].copy(),
            "close": data[:, 3].copy(), "volume": data[:, 4].copy(),
        })


class MarketCache:
    """Candles and funding per symbol for one timeframe; the shared read model of the market."""

    def __init__(self, timeframe: str) -> None:
        self.timeframe = timeframe
        self._series: dict[str, SymbolSeries] = {}
        self._funding: dict[str, list[tuple[int, float]]] = {}

    def series(self, symbol: str) -> SymbolSeries:
        if symbol not in self._series:
            self._series[symbol] = SymbolSeries()
        return self._series[symbol]

    @property
    def symbols(self) -> list[str]:
        return list(self._series)

    def candles(self, symbol: str, last: int | None = None) -> pd.DataFrame:
        return self.series(symbol).frame(last)

    def append_candle(self, ev: CandleClosed) -> bool:
        """Store a closed candle of this cache's timeframe (other timeframes are not kept here)."""
        if ev.timeframe != self.timeframe:
            return False
        return self.series(ev.symbol).append(ev.ts_ms, ev.open, ev.high, ev.low, ev.close, ev.volume)

    def last_price(self, symbol: str) -> float | None:
        return self.series(symbol).last_close() if symbol in self._series else None

    def add_funding(self, symbol: str, ts_ms: int, rate: float) -> None:
        hist = self._funding.setdefault(symbol, [])
        if not hist or ts_ms > hist[-1][0]:
            hist.append((ts_ms, rate))

    def funding(self, symbol: str) -> pd.DataFrame:
        """Funding history as ``timestamp, funding_rate`` (the format of the shared data files)."""
        hist = self._funding.get(symbol, [])
        return pd.DataFrame(hist, columns=["timestamp", "funding_rate"])
