"""Performance metrics and the statistics that keep lucky backtests from reaching money.

Metrics come from a `BacktestResult` (equity at each close + trade list). The significance
tools follow Bailey & López de Prado: probabilistic Sharpe ratio (PSR), deflated Sharpe ratio
(DSR: the PSR against the best Sharpe expected from N unskilled trials), and the probability
of backtest overfitting by combinatorially symmetric cross-validation (CSCV). Every
resampling takes an explicit seed so a verdict is reproducible.
"""

from __future__ import annotations

import math
from itertools import combinations, pairwise
from statistics import NormalDist

import numpy as np
from numba import njit
from pydantic import BaseModel, ConfigDict

from ai_brain.evaluation.backtest_engine import (
    T_ENTRY_BAR,
    T_ENTRY_PX,
    T_EXIT_BAR,
    T_EXIT_PX,
    T_FEES,
    T_FUNDING,
    T_GROSS,
    T_PNL,
    T_QTY,
    T_RET,
    BacktestResult,
)

_N = NormalDist()
_EULER_GAMMA = 0.5772156649015329
MS_PER_YEAR = 365.25 * 86_400_000


def _f(x: float) -> float | None:
    """JSON-safe float: NaN/inf become None (undefined), everything else a plain float."""
    x = float(x)
    return x if math.isfinite(x) else None


class Metrics(BaseModel):
    """Headline figures of one backtest; None means undefined (e.g. no losing trade for PF)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bars: int
    years: float
    final_equity: float
    total_return: float
    annual_return: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: float
    max_drawdown_bars: int
    trades: int
    trades_per_year: float
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None
    avg_win: float | None
    avg_loss: float | None
    exposure: float
    turnover_per_year: float
    fees_paid: float
    funding_paid: float
    gross_pnl: float
    net_pnl: float


def bar_returns(equity: np.ndarray, initial_cash: float) -> np.ndarray:
    """Simple returns of equity close to close; the first is measured from the initial cash."""
    prev = np.concatenate(([initial_cash], equity[:-1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(prev > 0, equity / np.where(prev > 0, prev, 1.0) - 1.0, 0.0)
    return r


def drawdown(equity: np.ndarray) -> tuple[float, int]:
    """(max drawdown as a positive fraction of the peak, longest bars spent below a peak)."""
    if equity.size == 0:
        return 0.0, 0
    peak = np.maximum.accumulate(equity)
    with np.errstate(invalid="ignore", divide="ignore"):
        dd = np.where(peak > 0, 1.0 - equity / peak, 1.0)
    under = dd > 1e-12
    longest = 0
    if under.any():
        edges = np.diff(np.concatenate(([0], under.astype(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        longest = int((ends - starts).max())
    return float(max(dd.max(), 0.0)), longest


def _trade_figures(trades: np.ndarray) -> dict[str, float | None]:
    pnl = trades[:, T_PNL]
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    n = pnl.shape[0]
    return {
        "win_rate": _f(wins.size / n) if n else None,
        "profit_factor": _f(wins.sum() / -losses.sum()) if losses.size else None,
        "expectancy": _f(pnl.mean()) if n else None,
        "avg_win": _f(wins.mean()) if wins.size else None,
        "avg_loss": _f(losses.mean()) if losses.size else None,
    }


def compute_metrics(result: BacktestResult, step_ms: int) -> Metrics:
    """All headline metrics; annualization uses the bar spacing `step_ms`."""
    eq, tr = result.equity, result.trades
    bars = int(eq.shape[0])
    bars_per_year = MS_PER_YEAR / step_ms if step_ms > 0 else 1.0
    years = bars / bars_per_year
    r = bar_returns(eq, result.initial_cash)
    final = float(eq[-1]) if bars else result.initial_cash
    total = final / result.initial_cash - 1.0
    sd, downside = r.std(), np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) if bars else 0.0
    sharpe = r.mean() / sd * math.sqrt(bars_per_year) if sd > 0 else float("nan")
    sortino = r.mean() / downside * math.sqrt(bars_per_year) if downside > 0 else float("nan")
    annual = (final / result.initial_cash) ** (1.0 / years) - 1.0 if years > 0 and final > 0 else -1.0
    mdd, mdd_bars = drawdown(eq)
    held = float(np.sum(tr[:, T_EXIT_BAR] - tr[:, T_ENTRY_BAR] + 1)) if tr.size else 0.0
    traded = float(np.sum(tr[:, T_QTY] * (tr[:, T_EXIT_PX] + tr[:, T_ENTRY_PX]))) if tr.size else 0.0
    mean_eq = float(np.nanmean(eq)) if bars else result.initial_cash
    return Metrics(
        bars=bars, years=years, final_equity=final, total_return=total,
        annual_return=_f(annual), sharpe=_f(sharpe), sortino=_f(sortino),
        calmar=_f(annual / mdd) if mdd > 0 else None,
        max_drawdown=mdd, max_drawdown_bars=mdd_bars, trades=int(tr.shape[0]),
        trades_per_year=tr.shape[0] / years if years > 0 else 0.0,
        exposure=min(held / bars, 1.0) if bars else 0.0,
        turnover_per_year=traded / mean_eq / years if years > 0 and mean_eq > 0 else 0.0,
        fees_paid=float(tr[:, T_FEES].sum()), funding_paid=float(tr[:, T_FUNDING].sum()),
        gross_pnl=float(tr[:, T_GROSS].sum()), net_pnl=float(tr[:, T_PNL].sum()),
        **_trade_figures(tr),
    )


# ----------------------------------------------------------------------------- significance
def _moments(r: np.ndarray) -> tuple[float, float, float]:
    """(per-bar Sharpe, skewness, kurtosis (normal = 3)) of a return series."""
    sd = r.std()
    if r.size < 3 or sd == 0:
        return 0.0, 0.0, 3.0
    z = (r - r.mean()) / sd
    return float(r.mean() / sd), float(np.mean(z ** 3)), float(np.mean(z ** 4))


def per_bar_sharpe(returns: np.ndarray) -> float:
    """Mean over standard deviation of per-bar returns (0 when undefined)."""
    return _moments(returns)[0]


def probabilistic_sharpe(returns: np.ndarray, sr_benchmark: float = 0.0) -> float:
    """P(true per-bar Sharpe > `sr_benchmark`) given the sample's length, skew and kurtosis."""
    sr, skew, kurt = _moments(returns)
    if returns.size < 3 or returns.std() == 0:
        return 0.0
    return psr_from_moments(sr, returns.size, skew, kurt, sr_benchmark)


def psr_from_moments(sr: float, t: int, skew: float, kurt: float, sr_benchmark: float = 0.0) -> float:
    """The PSR formula on summary figures (per-bar Sharpe, observations, skew, kurtosis (normal = 3))."""
    denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    return _N.cdf((sr - sr_benchmark) * math.sqrt(t - 1) / math.sqrt(max(denom, 1e-12)))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """Best per-bar Sharpe expected among `n_trials` unskilled strategies (zero true Sharpe)."""
    if n_trials <= 1:
        return 0.0
    a = _N.inv_cdf(1.0 - 1.0 / n_trials)
    b = _N.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sr_variance) * ((1.0 - _EULER_GAMMA) * a + _EULER_GAMMA * b)


def deflated_sharpe(returns: np.ndarray, n_trials: int, sr_variance: float | None = None) -> float:
    """PSR against the expected best of `n_trials` (every trial on this data, this one included).

    `sr_variance` is the variance across the trials' per-bar Sharpe ratios, as in Bailey &
    López de Prado (2014); without it, the null value 1/(T-1) (the estimator's variance when
    every trial has zero true Sharpe) is used, which under-deflates a real search.
    """
    t = returns.size
    if t < 3:
        return 0.0
    var = sr_variance if sr_variance is not None else 1.0 / (t - 1)
    return probabilistic_sharpe(returns, expected_max_sharpe(max(n_trials, 1), var))


def bootstrap_mean_ci(values: np.ndarray, samples: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (e.g. of per-trade returns)."""
    if values.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    chunk = max(1, 2_000_000 // values.size)
    for s in range(0, samples, chunk):
        k = min(chunk, samples - s)
        means[s:s + k] = values[rng.integers(0, values.size, size=(k, values.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


@njit(cache=True)
def _shuffled_drawdowns(growth: np.ndarray, runs: int, seed: int) -> np.ndarray:
    np.random.seed(seed)
    g = growth.copy()
    out = np.empty(runs)
    for r in range(runs):
        np.random.shuffle(g)
        cum, peak, worst = 0.0, 0.0, 0.0
        for x in g:
            cum += x
            peak = max(peak, cum)
            worst = min(worst, cum - peak)
        out[r] = 1.0 - np.exp(worst)
    return out


def monte_carlo_drawdown(trade_returns: np.ndarray, runs: int, seed: int) -> tuple[float, float]:
    """(median, 95th percentile) max drawdown over random reorderings of the trades."""
    if trade_returns.size < 2:
        return 0.0, 0.0
    growth = np.log1p(np.clip(trade_returns.astype(np.float64), -0.999999, None))
    dd = _shuffled_drawdowns(growth, runs, seed)
    return float(np.median(dd)), float(np.percentile(dd, 95))


def trade_returns(result: BacktestResult) -> np.ndarray:
    """Net return of each trade relative to equity at its entry."""
    return result.trades[:, T_RET].copy()


def pbo_cscv(returns: np.ndarray, blocks: int = 10) -> float:
    """Probability of backtest overfitting of a candidate set (columns = candidates).

    Rows (bars) are cut into `blocks` contiguous groups; for each half/half combination the
    in-sample best candidate's out-of-sample rank is taken; PBO is the share of combinations
    where it lands in the lower half (logit <= 0).
    """
    t, n = returns.shape
    if n < 2 or t < blocks * 2:
        raise ValueError("PBO needs at least 2 candidates and 2 bars per block")
    edges = np.linspace(0, t, blocks + 1).astype(int)
    s1 = np.add.reduceat(returns, edges[:-1], axis=0)
    s2 = np.add.reduceat(returns ** 2, edges[:-1], axis=0)
    cnt = np.diff(edges).astype(float)[:, None]
    logits = []
    for is_blocks in combinations(range(blocks), blocks // 2):
        mask = np.zeros(blocks, dtype=bool)
        mask[list(is_blocks)] = True
        sr_is, sr_oos = _block_sharpe(s1, s2, cnt, mask), _block_sharpe(s1, s2, cnt, ~mask)
        best = int(np.argmax(sr_is))
        rank = float(np.sum(sr_oos < sr_oos[best]) + 0.5 * np.sum(sr_oos == sr_oos[best]) + 0.5)
        w = rank / (n + 1)
        logits.append(math.log(w / (1.0 - w)))
    return float(np.mean(np.asarray(logits) <= 0.0))


def _block_sharpe(s1: np.ndarray, s2: np.ndarray, cnt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n = cnt[mask].sum()
    mean = s1[mask].sum(axis=0) / n
    var = np.maximum(s2[mask].sum(axis=0) / n - mean ** 2, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, mean / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)


# ----------------------------------------------------------------------------- splits
def oos_split(n_bars: int, oos_fraction: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """((0, cut), (cut, n)): the last `oos_fraction` of bars is out of sample."""
    cut = round(n_bars * (1.0 - oos_fraction))
    return (0, cut), (cut, n_bars)


def walk_forward_windows(n_bars: int, windows: int, start: int = 0) -> list[tuple[int, int]]:
    """Consecutive, non-overlapping equal windows covering bars [start, n_bars)."""
    edges = np.linspace(start, n_bars, windows + 1).astype(int)
    return [(int(a), int(b)) for a, b in pairwise(edges) if b > a]
