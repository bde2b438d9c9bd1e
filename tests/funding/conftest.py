"""Fixtures for funding-carry tests: the real funding history and spot candles, and a simulated market."""

from __future__ import annotations

import numpy as np
import pytest

from src.market.history import load_candles, load_funding
from src.market.simulator import MarketSimulator
from src.strategy.data import Candles, Funding
from tests.conftest import SHARED_DATA

DAY_MS = 86_400_000


@pytest.fixture(scope="session")
def real_btc() -> tuple[Funding, Candles]:
    """Binance USD-M BTC funding (2022-01 → 2025-08) and the spot 1h candles over the same span."""
    funding_path = SHARED_DATA / "binanceusdm_BTC-USDT_funding-8h.csv.gz"
    candles_path = SHARED_DATA / "binance_BTC-USDT_1h.csv.gz"
    if not (funding_path.exists() and candles_path.exists()):
        pytest.skip("shared data folder not found beside the repo")
    funding, spot = load_funding(funding_path), load_candles(candles_path)
    start = int(np.searchsorted(spot.ts, funding.ts[0] - 4 * DAY_MS))
    return funding, spot.slice(start, len(spot))


@pytest.fixture(scope="session")
def simulated_btc() -> tuple[Funding, Candles]:
    """Six simulated months of BTC bars with the simulator's trend-leaning funding every 8h."""
    sim = MarketSimulator(("BTC/USDT",), (60_000.0,), seed=11, start_ms=1_704_067_200_000)
    bars = [sim.step()[0] for _ in range(24 * 180)]
    candles = Candles(np.array([b.ts_ms for b in bars], dtype=np.int64),
                      *(np.array([getattr(b, c) for b in bars]) for c in ("open", "high", "low", "close", "volume")))
    settled = [(b.ts_ms + 3_600_000, b.funding_rate) for b in bars if b.funding_rate is not None]
    return Funding(np.array([t for t, _ in settled], dtype=np.int64), np.array([r for _, r in settled])), candles
