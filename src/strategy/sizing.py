"""Entry size as a share of equity: fixed, or scaled to a target volatility.

Volatility targeting (Moskowitz, Ooi & Pedersen 2012, "Time series momentum"; Harvey et al.
2018, "The impact of volatility targeting") sizes each entry by `target_vol / realised_vol`,
so a trend trade risks about the same in a quiet and in a wild market. The scale is capped at
1: the gene `position_fraction` stays the most margin a strategy may ever use. When the
realised volatility at the signal bar is unknown (warm-up, a flat series) the size is 0 — no
entry — rather than a guess.

The backtester reads `fraction_series` for every bar; the live runner reads `entry_fraction`
on its window of closed candles: both are this module, so they size the same entry the same.
"""

from __future__ import annotations

import numpy as np

from src.strategy.data import Candles
from src.strategy.indicators import volatility
from src.strategy.spec import RiskGenes


def vol_scale(target_vol: float, realised: np.ndarray) -> np.ndarray:
    """min(1, target / realised) per bar; 0 where realised is NaN or not positive."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # a tiny realised vol caps at 1
        ok = np.isfinite(realised) & (realised > 0)
        return np.where(ok, np.minimum(1.0, target_vol / np.where(ok, realised, 1.0)), 0.0)


def fraction_series(risk: RiskGenes, candles: Candles) -> np.ndarray:
    """Equity share to commit on an entry signalled at each bar's close (causal)."""
    n = len(candles)
    if risk.target_vol == 0.0:
        return np.full(n, risk.position_fraction)
    realised = volatility(np.ascontiguousarray(candles.close, dtype=np.float64), risk.vol_period)
    return risk.position_fraction * vol_scale(risk.target_vol, realised)


def entry_fraction(risk: RiskGenes, candles: Candles) -> float:
    """The share for an entry signalled at the last closed bar of `candles`."""
    if len(candles) == 0:
        return 0.0
    return float(fraction_series(risk, candles)[-1])
