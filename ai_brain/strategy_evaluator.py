"""The judge: backtest with costs, out-of-sample and walk-forward figures, significance, verdict.

`evaluate` is a pure function of (spec, data, config, trial count): the same inputs give the
same `Evaluation` on any machine or executor, which is what lets batch evaluation run in a
process pool or on Dask and still be compared byte for byte. In-sample figures are reported
but never decide anything: the verdict reads only out-of-sample and walk-forward results.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from ai_brain import statistics as st
from ai_brain.backtest_engine import BacktestResult, CostModel, cost_model, run_backtest, run_many
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


class Significance(_Frozen):
    """Out-of-sample significance: Sharpe probabilities, trade-mean CI, order risk."""

    trials_in_family: int
    psr: float
    dsr: float
    mean_trade_return_ci: tuple[float | None, float | None]
    mc_drawdown_median: float
    mc_drawdown_p95: float


class Check(_Frozen):
    """One gate of the verdict, with the figure that decided it in words."""

    name: str
    passed: bool
    detail: str


class Evaluation(_Frozen):
    """Everything the bot stores about one evaluation (`performance.backtest` of a strategy)."""

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


def _backtest(spec: StrategySpec, c: Candles, funding: Funding | None, cfg: EvaluatorConfig,
              costs: CostModel, sig, cache: dict, span: tuple[int, int]) -> BacktestResult:
    return run_backtest(spec, c, funding, costs, cfg.initial_cash, cfg.maintenance_margin,
                        start=span[0], end=span[1], signals=sig, cache=cache)


def evaluate(spec: StrategySpec, candles: Candles | pd.DataFrame, funding: Funding | None = None,
             cfg: EvaluatorConfig | None = None, trials_in_family: int = 1,
             slippage_bps: float | None = None) -> Evaluation:
    """Judge one spec. `trials_in_family` counts every spec of this family tried so far,
    this one included (see `TrialCounter`); `slippage_bps` overrides the config, e.g. with a
    figure from `backtest_engine.book_slippage_bps` for the intended order size. Pass `funding`
    for perp strategies only: it feeds funding indicators and is charged to held positions.

    The walk-forward windows replay the *given* spec on consecutive slices (no re-fitting):
    they measure stability, while generators that tune parameters must count every tried
    variant in `trials_in_family` so the deflated Sharpe pays for the search."""
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
    is_span, oos_span = st.oos_split(len(c), cfg.oos_fraction)
    ins = _backtest(spec, c, funding, cfg, costs, sig, cache, is_span)
    oos = _backtest(spec, c, funding, cfg, costs, sig, cache, oos_span)
    windows = []
    for a, b in st.walk_forward_windows(len(c), cfg.walk_forward_windows):
        res = _backtest(spec, c, funding, cfg, costs, sig, cache, (a, b))
        end_ts = int(c.ts[b]) if b < len(c) else int(c.ts[-1]) + step
        windows.append(WindowFigures(start_ts=int(c.ts[a]), end_ts=end_ts, metrics=st.compute_metrics(res, step)))
    oos_m = st.compute_metrics(oos, step)
    sig_fig = _significance(oos, trials_in_family, cfg)
    positive = float(np.mean([w.metrics.total_return > 0 for w in windows]))
    checks = _checks(look.ok, look.mismatched_bars, oos_m, sig_fig, positive, cfg, spec.type)
    failed = [ch.detail for ch in checks if not ch.passed]
    return Evaluation(
        spec_id=spec.id, family=spec.type, bars=len(c), first_ts=int(c.ts[0]), last_ts=int(c.ts[-1]),
        fee_bps=costs.fee_bps, slippage_bps=costs.slippage_bps,
        in_sample=st.compute_metrics(ins, step), out_of_sample=oos_m, walk_forward=windows,
        positive_windows=positive, significance=sig_fig, lookahead_ok=look.ok,
        lookahead_mismatched_bars=look.mismatched_bars, checks=checks, passed=not failed,
        reasons=failed or ["passed every gate: " + "; ".join(ch.detail for ch in checks)],
        score=ranking_score(oos_m, sig_fig, positive, cfg),
    )


def _significance(oos: BacktestResult, trials: int, cfg: EvaluatorConfig) -> Significance:
    r = st.bar_returns(oos.equity, oos.initial_cash)
    tr = st.trade_returns(oos)
    lo, hi = st.bootstrap_mean_ci(tr, cfg.bootstrap_samples, cfg.seed)
    mc_med, mc_p95 = st.monte_carlo_drawdown(tr, cfg.monte_carlo_runs, cfg.seed)
    return Significance(trials_in_family=max(trials, 1), psr=st.probabilistic_sharpe(r),
                        dsr=st.deflated_sharpe(r, max(trials, 1)),
                        mean_trade_return_ci=(st._f(lo), st._f(hi)),
                        mc_drawdown_median=mc_med, mc_drawdown_p95=mc_p95)


def _checks(look_ok: bool, mismatched: list[int], m: st.Metrics, s: Significance, positive: float,
            cfg: EvaluatorConfig, family: str) -> list[Check]:
    ci_lo = s.mean_trade_return_ci[0]
    return [
        Check(name="lookahead", passed=look_ok,
              detail="signals are causal" if look_ok else
              f"look-ahead: signals change when later bars are removed (truncated at bars {mismatched[:5]})"),
        Check(name="min_trades", passed=m.trades >= cfg.min_trades,
              detail=f"{m.trades} out-of-sample trades (minimum {cfg.min_trades})"),
        Check(name="oos_return", passed=m.total_return > 0,
              detail=f"out-of-sample net return {m.total_return:+.2%} after costs"),
        Check(name="deflated_sharpe", passed=s.dsr >= cfg.dsr_level,
              detail=f"deflated Sharpe probability {s.dsr:.3f} (need {cfg.dsr_level}) "
                     f"after {s.trials_in_family} trials in family {family}"),
        Check(name="trade_mean_ci", passed=ci_lo is not None and ci_lo > 0,
              detail=f"95% bootstrap CI of the mean trade return starts at "
                     f"{'n/a' if ci_lo is None else f'{ci_lo:+.4%}'}"),
        Check(name="drawdown_risk", passed=s.mc_drawdown_p95 <= cfg.max_drawdown,
              detail=f"95th percentile drawdown over reordered trades {s.mc_drawdown_p95:.1%} "
                     f"(limit {cfg.max_drawdown:.0%})"),
        Check(name="stability", passed=positive >= cfg.min_positive_windows,
              detail=f"{positive:.0%} of walk-forward windows profitable "
                     f"(need {cfg.min_positive_windows:.0%})"),
    ]


def ranking_score(m: st.Metrics, s: Significance, positive: float, cfg: EvaluatorConfig) -> float:
    """One number to rank candidates: OOS risk-adjusted return, significance, drawdown,
    stability across windows, turnover; weights from `cfg.ranking`."""
    w = cfg.ranking
    sharpe = float(np.clip((m.sharpe or 0.0) / 3.0, -1.0, 1.0))
    turnover = min(m.trades_per_year / 100.0, 5.0)
    score = (w.oos_sharpe * sharpe + w.significance * s.dsr - w.drawdown * m.max_drawdown
             + w.stability * positive - w.turnover * turnover)
    return round(float(score), 12)


def candidate_set_pbo(specs: list[StrategySpec], candles: Candles, funding: Funding | None = None,
                      cfg: EvaluatorConfig | None = None) -> float:
    """Probability of backtest overfitting of a family's candidate set (CSCV on bar returns).

    High values mean picking the in-sample best of these candidates tends to pick a below-median
    one out of sample: the family's apparent winners are luck, whatever their own statistics say.
    """
    cfg = cfg or EvaluatorConfig()
    costs = cost_model(specs[0], FeeSchedule.from_config(cfg.fees), cfg.slippage_bps)
    results = run_many(specs, candles, funding, costs, cfg.initial_cash, threads=1)
    returns = np.column_stack([st.bar_returns(r.equity, r.initial_cash) for r in results])
    return st.pbo_cscv(returns, cfg.pbo_blocks)


class TrialCounter:
    """Per-family count of evaluated hypotheses, persisted as JSON for the deflated Sharpe.

    Every write goes to a temp file in the same folder, is fsynced, then renamed over the
    old file, so a crash leaves either the old or the new count, never a torn file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._counts: dict[str, int] = self._load()

    def _load(self) -> dict[str, int]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        counts = data.get("families", {}) if isinstance(data, dict) else None
        if not isinstance(counts, dict) or not all(isinstance(v, int) and v >= 0 for v in counts.values()):
            raise ValueError(f"{self.path}: not a trial counter file")
        return {str(k): int(v) for k, v in counts.items()}

    def count(self, family: str) -> int:
        return self._counts.get(family, 0)

    def record(self, family: str, n: int = 1) -> int:
        """Add `n` trials to `family`, persist, and return the new count."""
        if n < 0:
            raise ValueError("trial count cannot decrease")
        with self._lock:
            self._counts[family] = self._counts.get(family, 0) + n
            self._write()
            return self._counts[family]

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"families": self._counts}, fh, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
