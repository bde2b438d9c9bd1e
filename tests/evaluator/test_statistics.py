"""Metrics and significance tools against hand values and simulation."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest

from ai_brain.evaluation import statistics as st
from ai_brain.evaluation.backtest_engine import TRADE_FIELDS, BacktestResult


def test_drawdown_by_hand():
    mdd, longest = st.drawdown(np.array([100.0, 120.0, 90.0, 130.0, 100.0, 95.0, 140.0]))
    assert mdd == pytest.approx(35 / 130)  # 130 → 95 is deeper than 120 → 90
    assert longest == 2


def _trades(pnls: list[float]) -> np.ndarray:
    t = np.zeros((len(pnls), len(TRADE_FIELDS)))
    t[:, TRADE_FIELDS.index("pnl")] = pnls
    t[:, TRADE_FIELDS.index("gross_pnl")] = pnls
    t[:, TRADE_FIELDS.index("entry_bar")] = np.arange(len(pnls)) * 2
    t[:, TRADE_FIELDS.index("exit_bar")] = np.arange(len(pnls)) * 2
    return t


def test_trade_metrics_by_hand():
    eq = np.array([1000.0, 1010.0, 1005.0, 1030.0])
    res = BacktestResult(trades=_trades([10.0, -5.0, 25.0]), equity=eq, ts=np.arange(4) * 3_600_000,
                         start=0, initial_cash=1000.0)
    m = st.compute_metrics(res, 3_600_000)
    assert m.total_return == pytest.approx(0.03)
    assert m.win_rate == pytest.approx(2 / 3)
    assert m.profit_factor == pytest.approx(7.0)
    assert m.avg_win == pytest.approx(17.5)
    assert m.avg_loss == pytest.approx(-5.0)
    assert m.expectancy == pytest.approx(10.0)
    assert m.exposure == pytest.approx(0.75)
    assert m.max_drawdown == pytest.approx(5 / 1010)


def test_psr_and_dsr_behave():
    rng = np.random.default_rng(0)
    good = rng.normal(0.08, 1.0, 4000)
    assert st.probabilistic_sharpe(good) > 0.99
    assert st.deflated_sharpe(good, 1) == pytest.approx(st.probabilistic_sharpe(good))
    dsrs = [st.deflated_sharpe(good, n) for n in (1, 10, 100, 1000)]
    assert all(a > b for a, b in itertools.pairwise(dsrs))
    assert st.probabilistic_sharpe(-good) < 0.01


def test_expected_max_sharpe_matches_simulation():
    rng = np.random.default_rng(1)
    for n in (10, 100):
        simulated = rng.standard_normal((20_000, n)).max(axis=1).mean()
        assert st.expected_max_sharpe(n, 1.0) == pytest.approx(simulated, rel=0.03)


def test_bootstrap_ci_width_matches_theory():
    rng = np.random.default_rng(2)
    x = rng.normal(0.5, 2.0, 400)
    lo, hi = st.bootstrap_mean_ci(x, 4000, seed=3)
    assert lo < x.mean() < hi
    assert hi - lo == pytest.approx(2 * 1.96 * x.std() / math.sqrt(x.size), rel=0.1)


def test_monte_carlo_drawdown():
    assert st.monte_carlo_drawdown(np.full(50, 0.01), 200, seed=1) == (0.0, 0.0)
    med, p95 = st.monte_carlo_drawdown(np.array([0.1, -0.1] * 20), 500, seed=1)
    assert 0.1 <= med <= p95 < 1.0


def test_pbo_of_noise_is_about_half_and_of_a_real_edge_is_low():
    rng = np.random.default_rng(4)
    noise = rng.normal(0.0, 1.0, (2000, 16))
    assert 0.25 < st.pbo_cscv(noise, 10) < 0.75
    edge = noise.copy()
    edge[:, 0] += 0.3
    assert st.pbo_cscv(edge, 10) < 0.05


def test_splits_cover_the_series_without_overlap():
    (a, b), (c, d) = st.oos_split(1000, 0.3)
    assert (a, b, c, d) == (0, 700, 700, 1000)
    w = st.walk_forward_windows(1000, 4)
    assert w[0][0] == 0
    assert w[-1][1] == 1000
    assert all(x[1] == y[0] for x, y in itertools.pairwise(w))


def test_deflated_sharpe_matches_the_papers_worked_example():
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example: 100 trials
    # whose annualised Sharpe ratios have variance 1/2, best annualised Sharpe 2.5 over 1,250
    # daily observations (250 a year), skewness -3, kurtosis 10: SR0 = 0.1132 a day, DSR = 0.9004.
    per_year = 250
    sr0 = st.expected_max_sharpe(100, 0.5 / per_year)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = st.psr_from_moments(2.5 / math.sqrt(per_year), 1250, -3.0, 10.0, sr0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_deflated_sharpe_by_hand_on_a_short_series():
    r = np.array([0.02, -0.01, 0.03, 0.01, -0.02, 0.04, 0.00, 0.01])
    mean = r.sum() / 8
    sd = math.sqrt(((r - mean) ** 2).sum() / 8)
    sr = mean / sd
    z = (r - mean) / sd
    skew, kurt = (z ** 3).sum() / 8, (z ** 4).sum() / 8
    trials, var = 20, 0.25  # the variance across the trials' per-bar Sharpe ratios
    g = 0.5772156649015329
    sr0 = math.sqrt(var) * ((1 - g) * NormalDist().inv_cdf(1 - 1 / trials)
                            + g * NormalDist().inv_cdf(1 - 1 / (trials * math.e)))
    expected = NormalDist().cdf((sr - sr0) * math.sqrt(7) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr ** 2))
    assert st.deflated_sharpe(r, trials, var) == pytest.approx(expected, rel=1e-12)
    assert st.deflated_sharpe(r, trials, var) < st.deflated_sharpe(r, trials)  # var > 1/(T-1) here
