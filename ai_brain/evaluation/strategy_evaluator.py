"""The judge: backtest with costs, a selection segment and a test segment, significance, verdict.

`evaluate` is a pure function of (spec, data, config, trials, trials' Sharpe variance, PBO):
the same inputs give the same `Evaluation` on any machine or executor, which is what lets
batch evaluation run in a process pool or on Dask and still be compared byte for byte.
Selection (the score that ranks, files and breeds candidates) reads only the selection
segment; the verdict's gates read the final test segment that no selection step has seen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from ai_brain.evaluation import statistics as st
from ai_brain.evaluation.backtest_engine import BacktestResult, CostModel, cost_model, run_backtest, run_many
from ai_brain.evaluation.walk_forward import refit_windows
from src.config.evaluator import EvaluatorConfig
from src.orders.fees import FeeSchedule
from src.strategy.data import Candles, Funding
from src.strategy.signals import check_lookahead, compute_signals
from src.strategy.spec import StrategySpec


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowFigures(_Frozen):
    """Metrics of one walk-forward window (UTC ms bounds, end exclusive)."""

    start_ts: int
    end_ts: int
    metrics: st.Metrics
    parameters: dict[str, object] | None = None  # re-fitted on the bars before (see `walk_forward`)


class Significance(_Frozen):
    """Test-segment significance: Sharpe probabilities, trade-mean CI, order risk, overfitting.

    `trials` is the number of distinct hypotheses evaluated on this symbol's data (every
    generator, every family label); `sr_variance` the variance across their per-bar Sharpe
    ratios that the deflated Sharpe used (never below the null variance 1/(T-1))."""

    trials: int
    sharpe_per_bar: float
    sr_variance: float
    psr: float
    dsr: float
    mean_trade_return_ci: tuple[float | None, float | None]
    mc_drawdown_median: float
    mc_drawdown_p95: float
    pbo: float | None = None


class Check(_Frozen):
    """One gate of the verdict, with the figure that decided it in words."""

    name: str
    passed: bool
    detail: str


class Evaluation(_Frozen):
    """Everything the bot stores about one evaluation (`performance.backtest` of a strategy).

    `in_sample` is the selection segment (training/validation: the only figures that rank,
    file or breed candidates); `out_of_sample` is the final test segment, read only by the
    verdict's gates."""

    spec_id: str
    family: str
    bars: int
    first_ts: int
    last_ts: int
    fee_bps: float
    slippage_bps: float
    in_sample: st.Metrics
    out_of_sample: st.Metrics
    walk_forward: list[WindowFigures]
    positive_windows: float
    significance: Significance
    lookahead_ok: bool
    lookahead_mismatched_bars: list[int]
    checks: list[Check]
    passed: bool
    reasons: list[str]
    score: float


NOT_ENOUGH_EVIDENCE = "not enough evidence"


def _backtest(spec: StrategySpec, c: Candles, funding: Funding | None, cfg: EvaluatorConfig,
              costs: CostModel, sig, cache: dict, span: tuple[int, int]) -> BacktestResult:
    return run_backtest(spec, c, funding, costs, cfg.initial_cash, cfg.maintenance_margin,
                        start=span[0], end=span[1], signals=sig, cache=cache)


def evaluate(spec: StrategySpec, candles: Candles | pd.DataFrame, funding: Funding | None = None,
             cfg: EvaluatorConfig | None = None, trials: int = 1,
             slippage_bps: float | None = None, sr_variance: float | None = None,
             pbo: float | None = None, refit: bool = False) -> Evaluation:
    """Judge one spec. `trials` counts every distinct hypothesis evaluated on this symbol's data
    so far, this one included (see `TrialLedger`), and `sr_variance` is the variance across
    their per-bar test Sharpe ratios (None: the null variance); `pbo` is the probability of
    backtest overfitting of the cycle's candidate set (None: not measured, the gate fails).
    `slippage_bps` overrides the config, e.g. with `backtest_engine.book_slippage_bps` for the
    intended order size. Pass `funding` for perp strategies only.

    The bars are cut in two: the selection segment (the first 1 - oos_fraction) gives the
    score and the walk-forward stability windows; the test segment after it decides the
    verdict. The walk-forward windows replay the given spec on consecutive slices of the
    selection segment, or with `refit` (final verdicts) re-fit its parameters on the bars before
    each window (anchored, see `ai_brain.evaluation.walk_forward`); generators that tune parameters do so on
    the selection segment only, and every variant they try is a trial."""
    cfg = cfg or EvaluatorConfig()
    c = candles if isinstance(candles, Candles) else Candles.from_frame(candles)
    if len(c) < 100:
        raise ValueError(f"need at least 100 bars to evaluate, got {len(c)}")
    slip = cfg.slippage_bps if slippage_bps is None else slippage_bps
    costs = cost_model(spec, FeeSchedule.from_config(cfg.fees), slip)
    cache: dict = {}
    sig = compute_signals(spec, c, funding, cache)
    look = check_lookahead(spec, c, cfg.lookahead_checks, funding, cfg.seed, full=sig)
    step = c.step_ms()
    sel_span, test_span = st.oos_split(len(c), cfg.oos_fraction)
    sel = _backtest(spec, c, funding, cfg, costs, sig, cache, sel_span)
    test = _backtest(spec, c, funding, cfg, costs, sig, cache, test_span)
    windows = (_refit_windows(spec, c, funding, cfg, costs, sel_span[1]) if refit else
               _plain_windows(spec, c, funding, cfg, costs, sig, cache, sel_span[1]))
    sel_m, test_m = st.compute_metrics(sel, step), st.compute_metrics(test, step)
    sig_fig = _significance(test, trials, sr_variance, pbo, cfg)
    positive = float(np.mean([w.metrics.total_return > 0 for w in windows])) if windows else 0.0
    checks = _checks(look.ok, look.mismatched_bars, sel_m, test_m, sig_fig, positive, cfg, spec.symbols[0])
    failed = [ch.detail for ch in checks if not ch.passed]
    return Evaluation(
        spec_id=spec.id, family=spec.type, bars=len(c), first_ts=int(c.ts[0]), last_ts=int(c.ts[-1]),
        fee_bps=costs.fee_bps, slippage_bps=costs.slippage_bps,
        in_sample=sel_m, out_of_sample=test_m, walk_forward=windows,
        positive_windows=positive, significance=sig_fig, lookahead_ok=look.ok,
        lookahead_mismatched_bars=look.mismatched_bars, checks=checks, passed=not failed,
        reasons=failed or ["passed every gate: " + "; ".join(ch.detail for ch in checks)],
        score=ranking_score(sel_m, st.probabilistic_sharpe(st.bar_returns(sel.equity, sel.initial_cash)),
                            positive, cfg),
    )


def _end_ts(c: Candles, b: int) -> int:
    return int(c.ts[b]) if b < len(c) else int(c.ts[-1]) + c.step_ms()


def _plain_windows(spec: StrategySpec, c: Candles, funding: Funding | None, cfg: EvaluatorConfig, costs: CostModel,
                   sig, cache: dict, end: int) -> list[WindowFigures]:
    out = []
    for a, b in st.walk_forward_windows(end, cfg.walk_forward_windows):
        res = _backtest(spec, c, funding, cfg, costs, sig, cache, (a, b))
        out.append(WindowFigures(start_ts=int(c.ts[a]), end_ts=_end_ts(c, b),
                                 metrics=st.compute_metrics(res, c.step_ms())))
    return out


def _refit_windows(spec: StrategySpec, c: Candles, funding: Funding | None, cfg: EvaluatorConfig, costs: CostModel,
                   end: int) -> list[WindowFigures]:
    return [WindowFigures(start_ts=int(c.ts[a]), end_ts=_end_ts(c, b), metrics=m, parameters=params)
            for a, b, params, m in refit_windows(spec, c, funding, cfg, costs, end)]


def _significance(test: BacktestResult, trials: int, sr_variance: float | None, pbo: float | None,
                  cfg: EvaluatorConfig) -> Significance:
    r = st.bar_returns(test.equity, test.initial_cash)
    tr = st.trade_returns(test)
    lo, hi = st.bootstrap_mean_ci(tr, cfg.bootstrap_samples, cfg.seed)
    mc_med, mc_p95 = st.monte_carlo_drawdown(tr, cfg.monte_carlo_runs, cfg.seed)
    null = 1.0 / max(r.size - 1, 1)
    var = max(sr_variance, null) if sr_variance is not None and np.isfinite(sr_variance) else null
    return Significance(trials=max(trials, 1), sharpe_per_bar=st.per_bar_sharpe(r), sr_variance=var,
                        psr=st.probabilistic_sharpe(r), dsr=st.deflated_sharpe(r, max(trials, 1), var),
                        mean_trade_return_ci=(st._f(lo), st._f(hi)),
                        mc_drawdown_median=mc_med, mc_drawdown_p95=mc_p95, pbo=pbo)


def _checks(look_ok: bool, mismatched: list[int], sel: st.Metrics, m: st.Metrics, s: Significance,
            positive: float, cfg: EvaluatorConfig, symbol: str) -> list[Check]:
    ci_lo = s.mean_trade_return_ci[0]
    enough = m.years >= cfg.min_oos_years or m.trades >= cfg.min_oos_round_trips
    return [
        Check(name="lookahead", passed=look_ok,
              detail="signals are causal" if look_ok else
              f"look-ahead: signals change when later bars are removed (truncated at bars {mismatched[:5]})"),
        Check(name="evidence", passed=enough,
              detail=f"{NOT_ENOUGH_EVIDENCE if not enough else 'enough evidence'}: test segment "
                     f"{m.years:.2f} years, {m.trades} round trips (need {cfg.min_oos_years:g} years or "
                     f"{cfg.min_oos_round_trips} round trips)"),
        Check(name="min_trades", passed=m.trades >= cfg.min_trades,
              detail=f"{m.trades} test-segment trades (minimum {cfg.min_trades})"),
        Check(name="in_sample_return", passed=sel.total_return > 0,
              detail=f"selection-segment net return {sel.total_return:+.2%} after costs"),
        Check(name="oos_return", passed=m.total_return > 0,
              detail=f"test-segment net return {m.total_return:+.2%} after costs"),
        Check(name="deflated_sharpe", passed=s.dsr >= cfg.dsr_level,
              detail=f"deflated Sharpe probability {s.dsr:.3f} (need {cfg.dsr_level}) "
                     f"after {s.trials} trials on {symbol}'s data"),
        Check(name="trade_mean_ci", passed=ci_lo is not None and ci_lo > 0,
              detail=f"95% bootstrap CI of the mean trade return starts at "
                     f"{'n/a' if ci_lo is None else f'{ci_lo:+.4%}'}"),
        Check(name="drawdown_risk", passed=s.mc_drawdown_p95 <= cfg.max_drawdown,
              detail=f"95th percentile drawdown over reordered trades {s.mc_drawdown_p95:.1%} "
                     f"(limit {cfg.max_drawdown:.0%})"),
        Check(name="stability", passed=positive >= cfg.min_positive_windows,
              detail=f"{positive:.0%} of walk-forward windows profitable "
                     f"(need {cfg.min_positive_windows:.0%})"),
        Check(name="pbo", passed=s.pbo is not None and s.pbo <= cfg.max_pbo,
              detail="probability of backtest overfitting of the cycle's candidates "
                     + ("not measured (needs 2 or more candidates)" if s.pbo is None else
                        f"{s.pbo:.2f} (limit {cfg.max_pbo:.2f})")),
    ]


def ranking_score(m: st.Metrics, psr: float, positive: float, cfg: EvaluatorConfig) -> float:
    """One number to rank candidates, from the selection segment only: risk-adjusted return,
    Sharpe probability, drawdown, stability across windows, turnover; weights from `cfg.ranking`."""
    w = cfg.ranking
    sharpe = float(np.clip((m.sharpe or 0.0) / 3.0, -1.0, 1.0))
    turnover = min(m.trades_per_year / 100.0, 5.0)
    score = (w.oos_sharpe * sharpe + w.significance * psr - w.drawdown * m.max_drawdown
             + w.stability * positive - w.turnover * turnover)
    return round(float(score), 12)


def candidate_set_pbo(specs: list[StrategySpec], candles: Candles, funding: Funding | None = None,
                      cfg: EvaluatorConfig | None = None, end: int | None = None) -> float:
    """Probability of backtest overfitting of a family's candidate set (CSCV on bar returns).

    High values mean picking the in-sample best of these candidates tends to pick a below-median
    one out of sample: the family's apparent winners are luck, whatever their own statistics say.
    """
    cfg = cfg or EvaluatorConfig()
    costs = cost_model(specs[0], FeeSchedule.from_config(cfg.fees), cfg.slippage_bps)
    window = candles if end is None else candles.slice(0, end)
    results = run_many(specs, window, funding, costs, cfg.initial_cash, threads=1)
    returns = np.column_stack([st.bar_returns(r.equity, r.initial_cash) for r in results])
    return st.pbo_cscv(returns, cfg.pbo_blocks)
