"""Market regime per symbol — bull, bear, sideways, high volatility, crash — with a confidence.

Read from closed candles only (point in time): the trend over the look-back measured in units
of the symbol's own typical volatility (so one rule fits BTC and SOL, 1h and 1d), the slope of a
moving average, where current volatility sits in its own history (percentile), and the fall
from the recent peak. A crash is a fall of several typical moves in a few days *with* unusual
volatility; high volatility without direction is its own regime.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from src.strategy import indicators as ind
from src.strategy.data import Candles

REGIMES: tuple[str, ...] = ("bull", "bear", "sideways", "high_vol", "crash")
TREND_Z = 1.5     # trend beyond this many typical moves over the look-back is a trend
CRASH_Z = -3.0    # a fall of this many typical moves within the crash window
CRASH_VOL_PCT = 0.8
HIGH_VOL_PCT = 0.9


@dataclass(frozen=True)
class RegimeReading:
    """The regime at ``ts_ms`` (open time of the last bar used) and the figures behind it."""

    symbol: str
    label: str
    confidence: float
    ts_ms: int
    trend_z: float
    ma_slope: float
    vol_percentile: float
    drawdown: float
    crash_z: float
    atr_pct: float

    def as_dict(self) -> dict[str, float | str | int]:
        return asdict(self)

    def describe(self) -> str:
        return (f"{self.label} (confidence {self.confidence:.2f}; trend {self.trend_z:+.1f} typical moves, "
                f"volatility percentile {self.vol_percentile:.0%}, {self.drawdown:.1%} below the recent peak, "
                f"ATR {self.atr_pct:.2%} of price)")


def _log_returns(close: np.ndarray) -> np.ndarray:
    return np.diff(np.log(close))


def _squash(x: float) -> float:
    """Map a non-negative excess over a threshold to a confidence in [0.5, 1)."""
    return 0.5 + 0.5 * math.tanh(max(x, 0.0))


def classify(c: Candles, symbol: str = "", lookback: int = 240, vol_window: int = 24) -> RegimeReading:
    """The regime at the last bar of ``c`` (needs ``lookback + vol_window`` bars or more)."""
    n = len(c)
    if n < lookback + vol_window + 2:
        raise ValueError(f"need at least {lookback + vol_window + 2} bars for a regime, got {n}")
    close = c.close
    r = _log_returns(close)
    roll = ind.rolling_std(np.ascontiguousarray(r), vol_window)
    hist = roll[~np.isnan(roll)]
    vol_now = float(roll[-1])
    typical = float(np.median(hist)) or 1e-12
    vol_pct = float(np.mean(hist <= vol_now))
    trend = math.log(close[-1] / close[-lookback - 1])
    trend_z = trend / (typical * math.sqrt(lookback))
    ma = ind.sma(np.ascontiguousarray(close), max(lookback // 4, 5))
    back = max(lookback // 8, 2)
    ma_slope = float(ma[-1] / ma[-1 - back] - 1.0) if not math.isnan(ma[-1 - back]) else 0.0
    crash_window = 3 * vol_window
    peak = float(np.max(close[-crash_window:]))
    crash_z = math.log(close[-1] / peak) / (typical * math.sqrt(crash_window))
    drawdown = 1.0 - close[-1] / float(np.max(close[-lookback:]))
    atr = ind.atr(c.high, c.low, close, 14)
    label, conf = _decide(trend_z, ma_slope, vol_pct, crash_z)
    return RegimeReading(symbol=symbol, label=label, confidence=round(conf, 3), ts_ms=int(c.ts[-1]),
                         trend_z=round(trend_z, 3), ma_slope=round(ma_slope, 5), vol_percentile=round(vol_pct, 3),
                         drawdown=round(float(drawdown), 4), crash_z=round(crash_z, 3),
                         atr_pct=round(float(atr[-1] / close[-1]), 5))


def _decide(trend_z: float, ma_slope: float, vol_pct: float, crash_z: float) -> tuple[str, float]:
    if crash_z <= CRASH_Z and vol_pct >= CRASH_VOL_PCT:
        return "crash", _squash((CRASH_Z - crash_z) / 2 + (vol_pct - CRASH_VOL_PCT) * 5)
    if vol_pct >= HIGH_VOL_PCT and abs(trend_z) < 2 * TREND_Z:
        return "high_vol", _squash((vol_pct - HIGH_VOL_PCT) * 10 + 0.3)
    if trend_z >= TREND_Z and ma_slope > 0:
        return "bull", _squash(trend_z - TREND_Z + 0.3)
    if trend_z <= -TREND_Z and ma_slope < 0:
        return "bear", _squash(-trend_z - TREND_Z + 0.3)
    return "sideways", _squash(1.0 - abs(trend_z) / TREND_Z)


def classify_at(c: Candles, ts_ms: int, symbol: str = "", lookback: int = 240, vol_window: int = 24,
                history: int = 4_000) -> RegimeReading:
    """The regime as it was known at ``ts_ms`` (bars opening before it only)."""
    end = int(np.searchsorted(c.ts, ts_ms, side="left"))
    return classify(c.slice(max(0, end - history), end), symbol, lookback, vol_window)
