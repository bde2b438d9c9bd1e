"""Builders of synthetic market data for the evaluator tests."""

from __future__ import annotations

import numpy as np

from src.strategy.data import Candles


def random_candles(n: int, seed: int, vol: float = 0.02, start_price: float = 100.0,
                   step_ms: int = 3_600_000) -> Candles:
    """A geometric random walk with consistent OHLC (high >= max(open, close) etc.)."""
    rng = np.random.default_rng(seed)
    close = start_price * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.concatenate(([start_price], close[:-1])) * np.exp(rng.normal(0.0, vol / 4, n))
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * np.exp(np.abs(rng.normal(0.0, vol / 2, n)))
    low = bottom * np.exp(-np.abs(rng.normal(0.0, vol / 2, n)))
    volume = rng.uniform(1.0, 100.0, n)
    ts = 1_600_000_000_000 + step_ms * np.arange(n, dtype=np.int64)
    return Candles(ts=ts, open=open_, high=high, low=low, close=close, volume=volume)
