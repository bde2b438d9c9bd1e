"""The built-in market: deterministic per seed, and shaped like a real crypto market."""

from __future__ import annotations

import numpy as np

from src.market.simulator import REGIMES, MarketSimulator

SYMS = ("BTC/USDT", "ETH/USDT")


def sim(seed: int) -> MarketSimulator:
    return MarketSimulator(SYMS, (60_000.0, 3_000.0), seed, 1_704_067_200_000)


def closes(seed: int, n: int) -> dict[str, np.ndarray]:
    hist = sim(seed).history(n)
    return {s: np.array([b.close for b in bars]) for s, bars in hist.items()}


def test_same_seed_same_market_other_seed_other_market() -> None:
    a, b, c = sim(3).history(300), sim(3).history(300), sim(4).history(300)
    assert a == b
    assert [x.close for x in a["BTC/USDT"]] != [x.close for x in c["BTC/USDT"]]


def test_fat_tails_clustering_and_correlation() -> None:
    cl = closes(11, 6000)
    r = {s: np.diff(np.log(c)) for s, c in cl.items()}
    for s in SYMS:
        x = r[s]
        kurt = ((x - x.mean()) ** 4).mean() / x.var() ** 2
        assert kurt > 5, f"{s}: returns should be fat-tailed, kurtosis {kurt:.1f}"
        clustering = np.corrcoef(np.abs(x[1:]), np.abs(x[:-1]))[0, 1]
        assert clustering > 0.1, f"{s}: volatility should cluster ({clustering:.2f})"
        assert 0.001 < x.std() < 0.05
    assert np.corrcoef(r["BTC/USDT"], r["ETH/USDT"])[0, 1] > 0.2


def test_bars_books_tape_and_funding_are_consistent() -> None:
    hist = sim(5).history(2000)
    regimes = set()
    for bars in hist.values():
        for b in bars:
            regimes.add(b.regime)
            assert b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
            assert b.volume > 0
            assert b.bids[0][0] < b.asks[0][0]
            assert all(b.bids[i][0] > b.bids[i + 1][0] for i in range(len(b.bids) - 1))
            assert all(b.asks[i][0] < b.asks[i + 1][0] for i in range(len(b.asks) - 1))
            assert {t[3] for t in b.trades} <= {"buy", "sell"}
            if b.funding_rate is not None:
                assert abs(b.funding_rate) <= 0.003
                assert (b.ts_ms + 3_600_000) % (8 * 3_600_000) == 0
    assert regimes >= {"trend_up", "trend_down", "range", "high_vol"}
    assert regimes <= set(REGIMES)
    sizes = np.array([t[2] * t[1] for bars in hist.values() for b in bars for t in b.trades])
    assert sizes.max() > 20 * np.median(sizes), "the tape needs occasional large prints"
