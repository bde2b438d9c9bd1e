"""The strategy lifecycle: which status changes are legal, and the rules that promote or retire.

``generated → backtested → dry_run → awaiting_approval → approved → live → scaling → retired``
(and ``rejected``). The AI may promote up to ``awaiting_approval`` and may demote or retire at any
time; only a person approves; ``live`` additionally needs a person's approval on file *and* an
evaluator verdict that passed every gate, whatever the config says, so nothing can reach money
by accident. Promotion reads evidence in market time, so a replay runs the same rules fast.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ai_brain.discovery.strategy_store import StrategyRecord, StrategyStore
from ai_brain.evaluation.backtest_engine import run_backtest
from ai_brain.evaluation.drift_check import BacktestTrade, backtest_window_trades, diff_trades
from src.config.brain import LifecycleConfig
from src.core.enums import MONEY_STATUSES, Mode
from src.core.events import Alert, AlertLevel, Event
from src.strategy.data import Candles

log = logging.getLogger(__name__)

TRANSITIONS: dict[str, frozenset[str]] = {
    "generated": frozenset({"backtested", "rejected", "retired"}),
    "backtested": frozenset({"dry_run", "rejected", "retired"}),
    "dry_run": frozenset({"awaiting_approval", "backtested", "rejected", "retired"}),
    "awaiting_approval": frozenset({"approved", "dry_run", "backtested", "rejected", "retired"}),
    "approved": frozenset({"live", "dry_run", "rejected", "retired"}),
    "live": frozenset({"scaling", "dry_run", "retired"}),
    "scaling": frozenset({"live", "dry_run", "retired"}),
    "retired": frozenset(),
    "rejected": frozenset(),
}
HUMAN_ONLY = frozenset({"approved"})


def is_person(actor: str) -> bool:
    """Telegram users and shell scripts are people; ``ai`` (and anything else) is not."""
    return actor.startswith("telegram:") or actor.startswith("script")


def transition_problem(rec: StrategyRecord, to_status: str, actor: str) -> str | None:
    """Why ``rec`` may not move to ``to_status`` by ``actor`` (None when it may)."""
    allowed = TRANSITIONS.get(rec.status, frozenset())
    if to_status not in allowed:
        options = ", ".join(sorted(allowed)) or "nothing (final status)"
        return f"cannot go from {rec.status} to {to_status}; allowed from {rec.status}: {options}"
    if to_status in HUMAN_ONLY and not is_person(actor):
        return f"only a person may move a strategy to {to_status} (actor {actor!r})"
    if to_status == "live":
        if rec.provenance.approval is None:
            return "no approval by a person on file"
        if rec.verdict is None or not rec.verdict.passed:
            return "its evaluation did not pass every gate, so it may not trade money"
    return None


@dataclass
class Evidence:
    """What a strategy did since it entered its current status."""

    source: str
    bars: int
    trades: int
    total_return: float
    rows: list[BacktestTrade] = field(default_factory=list)

    def figures(self) -> dict[str, object]:
        out = asdict(self)
        out.pop("rows")
        return out


def band(oos: dict | None, n_bars: int, z: float) -> tuple[float, float]:
    """Range of the total return the backtest expects over ``n_bars`` (mean ± z std errors of
    the out-of-sample per-bar returns); (-inf, inf) when the backtest left no figures."""
    if not oos or oos.get("bar_return_std") is None or n_bars <= 0:
        return -math.inf, math.inf
    mu, sd = float(oos["bar_return_mean"]), float(oos["bar_return_std"])
    centre, width = n_bars * mu, z * math.sqrt(n_bars) * sd
    return centre - width, centre + width


def was_demoted(rec: StrategyRecord) -> bool:
    """Demoted for drift or by a person: it waits for a person, the AI does not re-admit it."""
    return any(h.from_status in ("dry_run", "awaiting_approval") and h.to_status == "backtested"
               for h in rec.history)


DEMO = "DEMO — not proven"


def dry_run_problems(rec: StrategyRecord, cfg: LifecycleConfig, demo: bool = False) -> list[str]:
    """Reasons a freshly backtested strategy may not start a dry run (empty = it may).

    Only a verdict that passed every gate earns a dry run; ``demo`` (a replay demo) lets a failed
    one through on the lighter rules below, and every message about it then says so."""
    oos = rec.performance.out_of_sample or {}
    out = []
    if rec.verdict is None:
        return ["no evaluation on file"]
    if not rec.verdict.passed and not demo:
        failed = ", ".join(rec.verdict.failed_checks) or "verdict not passed"
        return [f"the evaluator's gates did not pass: {failed}"]
    if "lookahead" in rec.verdict.failed_checks:
        out.append("its signals look ahead")
    if rec.verdict.score < cfg.dry_run_min_score:
        out.append(f"score {rec.verdict.score:.3f} below {cfg.dry_run_min_score}")
    if int(oos.get("trades", 0)) < cfg.dry_run_min_oos_trades:
        out.append(f"{oos.get('trades', 0)} out-of-sample trades (need {cfg.dry_run_min_oos_trades})")
    if float(oos.get("total_return", 0.0)) <= 0:
        out.append(f"out-of-sample return {float(oos.get('total_return', 0.0)):+.2%} is not positive")
    return out


def shadow_evidence(rec: StrategyRecord, candles: Candles, start_ts: int) -> Evidence:
    """Forward test: the strategy's own backtest over the bars that closed since ``start_ts``
    (bars the evaluator never saw). Used when no paper runner trades the dry runs."""
    start = int(candles.ts.searchsorted(start_ts, side="left"))
    n = len(candles) - start
    if n < 2:
        return Evidence("forward_backtest", max(n, 0), 0, 0.0)
    res = run_backtest(rec.spec, candles, start=start)
    rows = backtest_window_trades(rec.spec, candles, start_ts, int(candles.ts[-1]) + 1)
    return Evidence("forward_backtest", n, res.n_trades, float(res.equity[-1] / res.initial_cash - 1.0), rows)


def ledger_evidence(rec: StrategyRecord, mode: str, start_ts: int, now_ms: int, step_ms: int) -> Evidence:
    """Executed trades of ``mode`` recorded since ``start_ts`` (from the execution layer)."""
    trades = [t for t in rec.trades if t.mode == mode and t.entry_ts >= start_ts]
    rows = [BacktestTrade(t.side, t.entry_ts, t.exit_ts, t.entry_price, t.exit_price) for t in trades]
    bars = max(0, (now_ms - start_ts) // step_ms) if step_ms else 0
    return Evidence("ledger", int(bars), len(trades), float(sum(t.ret for t in trades)), rows)


Publisher = Callable[[Event], None]
CandlesOf = Callable[[str], Candles | None]


class Lifecycle:
    """Applies the promotion, drift, scaling and retirement rules to the store's records."""

    def __init__(self, store: StrategyStore, cfg: LifecycleConfig, mode: Mode, publish: Publisher,
                 now_ms: Callable[[], int], step_ms: int) -> None:
        self.store, self.cfg, self.mode = store, cfg, mode
        self._publish, self._now_ms, self.step_ms = publish, now_ms, step_ms
        self.regime_seen_ms: dict[str, int] = {}
        self.last_drift: dict[str, str] = {}
        self.demo = mode == "replay" and cfg.replay_demo_approvals

    def _unproven(self, rec: StrategyRecord) -> bool:
        return rec.verdict is None or not rec.verdict.passed

    # ------------------------------------------------------------------ admission
    def admit(self, strategy_id: str) -> StrategyRecord:
        """After a backtest: start a dry run, reject with the reasons, or queue for a free slot."""
        rec = self.store.get(strategy_id)
        problems = dry_run_problems(rec, self.cfg, self.demo)
        if problems:
            return self.store.transition(rec.id, "rejected", "ai", "not worth a dry run: " + "; ".join(problems))
        if len(self.store.list("dry_run")) >= self.cfg.max_dry_run:
            return self.store.update(rec.id, notes=[*rec.notes, "waiting for a free dry-run slot"])
        score = rec.verdict.score if rec.verdict is not None else float("nan")
        why = (f"{DEMO}: backtest score {score:.3f}, evaluator gates failed; replay demo dry run"
               if self._unproven(rec) else f"backtest score {score:.3f}; passed every evaluator gate")
        return self.store.transition(rec.id, "dry_run", "ai", why)

    # ------------------------------------------------------------------ periodic review
    def review(self, candles_of: CandlesOf, runner_active: bool, regime_of: Callable[[str], str | None],
               live_gate_open: bool = False) -> None:
        """One pass over every strategy that has evidence to judge."""
        for rec in self.store.list("generated"):
            if rec.verdict is not None:  # filed, then the process stopped before the next step
                self.store.transition(rec.id, "backtested", "ai", "evaluation on file; resumed after a restart")
        for rec in self.store.list("backtested"):
            if len(self.store.list("dry_run")) < self.cfg.max_dry_run and not was_demoted(rec):
                self.admit(rec.id)
        self._trim_queue()
        for rec in self.store.list("dry_run"):
            self._review_dry_run(rec, candles_of, runner_active)
        for rec in self.store.list("approved"):
            if self.mode == "live" and live_gate_open:
                self.store.transition(rec.id, "live", "ai", "approved by a person and the live gate is open",
                                      size_fraction=self.cfg.initial_live_fraction)
        for rec in self.store.list("live") + self.store.list("scaling"):
            self._review_live(rec, candles_of, regime_of)

    def _trim_queue(self) -> None:
        """Keep at most ``max_dry_run`` ideas waiting for a slot; the weakest make way."""
        waiting = [r for r in self.store.list("backtested") if not was_demoted(r)]
        waiting.sort(key=lambda r: -(r.verdict.score if r.verdict else -1e9))
        for rec in waiting[self.cfg.max_dry_run:]:
            self.store.transition(rec.id, "retired", "ai", "superseded: better candidates were waiting for a "
                                  "dry-run slot")

    def _evidence(self, rec: StrategyRecord, mode: str, candles_of: CandlesOf, runner_active: bool) -> Evidence:
        start = rec.status_since_ms
        if runner_active or mode == "live":
            return ledger_evidence(rec, mode, start, self._now_ms(), self.step_ms)
        candles = candles_of(rec.spec.symbols[0])
        if candles is None:
            return Evidence("forward_backtest", 0, 0, 0.0)
        return shadow_evidence(rec, candles, start)

    def _review_dry_run(self, rec: StrategyRecord, candles_of: CandlesOf, runner_active: bool) -> None:
        ev = self._evidence(rec, "dry_run", candles_of, runner_active)
        lo, hi = band(rec.performance.out_of_sample, ev.bars, self.cfg.band_z)
        figures = {**ev.figures(), "band": [lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None]}
        if rec.performance.dry_run != figures:
            rec = self.store.update_performance(rec.id, "dry_run", figures)
        hours = (self._now_ms() - rec.status_since_ms) / 3_600_000
        if hours < self.cfg.min_dry_run_hours or ev.trades < self.cfg.min_dry_run_trades:
            return
        if ev.source == "ledger" and self._drifted(rec, ev, candles_of, "backtested"):
            return
        if ev.total_return < lo:
            self._retire(rec, f"dry-run return {ev.total_return:+.2%} over {ev.bars} bars is below the "
                              f"backtest's band (from {lo:+.2%})")
            return
        if ev.total_return > hi:  # not the strategy its backtest describes, however pleasant
            self._retire(rec, f"dry-run return {ev.total_return:+.2%} over {ev.bars} bars is above the "
                              f"backtest's band (to {hi:+.2%}): results must lie inside it")
            return
        self._ask_approval(rec, ev)

    def _ask_approval(self, rec: StrategyRecord, ev: Evidence) -> None:
        if rec.verdict is None:
            failed = ["no evaluation"]
        else:
            failed = [] if rec.verdict.passed else (rec.verdict.failed_checks or ["verdict not passed"])
        if failed and not self.demo:
            self._retire(rec, "dry run complete but the evaluator's gates did not pass: " + ", ".join(failed))
            return
        gates = "every evaluator gate passed" if not failed else (
            "evaluator gates NOT passed: " + ", ".join(failed) + " (it can never trade money as is)")
        reason = f"dry run: {ev.trades} trades, return {ev.total_return:+.2%} over {ev.bars} bars ({ev.source})"
        if rec.id in self.last_drift:
            reason += f"; drift check: {self.last_drift[rec.id]}"
        tag = f"{DEMO}: " if failed else ""
        self.store.transition(rec.id, "awaiting_approval", "ai", tag + reason)
        text = (f"{tag}{rec.name} [{rec.spec.symbols[0]} {rec.spec.timeframe}] from {rec.source.generator}. "
                f"{reason}; {gates}. Out-of-sample: {_oos_line(rec)}. "
                f"Reply /approve {rec.id} or /reject {rec.id} <reason>.")
        title = f"Approval waiting ({DEMO}): {rec.id}" if failed else f"Approval waiting: {rec.id}"
        self._publish(Alert("action", title, text, key=f"approval:{rec.id}", ts_ms=self._now_ms()))

    def _review_live(self, rec: StrategyRecord, candles_of: CandlesOf, regime_of: Callable[[str], str | None]) -> None:
        ev = self._evidence(rec, "live", candles_of, True)
        lo, _hi = band(rec.performance.out_of_sample, ev.bars, self.cfg.band_z)
        if rec.performance.live != ev.figures():
            rec = self.store.update_performance(rec.id, "live", ev.figures())
        if self._regime_gone(rec, regime_of):
            return
        if ev.trades and self._drifted(rec, ev, candles_of, "dry_run"):
            return
        if ev.trades >= self.cfg.min_live_trades_to_scale and ev.total_return < lo:
            self._retire(rec, f"live return {ev.total_return:+.2%} left the backtest's band (from {lo:+.2%})")
            return
        steps = ev.trades // self.cfg.min_live_trades_to_scale
        target = min(self.cfg.max_live_fraction, self.cfg.initial_live_fraction * self.cfg.scale_step ** steps)
        if steps and target > rec.size_fraction + 1e-12 and ev.total_return >= lo:
            why = f"{ev.trades} live trades inside the band: size {rec.size_fraction:.2f} → {target:.2f}"
            if rec.status == "live":
                self.store.transition(rec.id, "scaling", "ai", why, size_fraction=target)
            else:
                self.store.update(rec.id, size_fraction=target, notes=[*rec.notes, why])

    def _regime_gone(self, rec: StrategyRecord, regime_of: Callable[[str], str | None]) -> bool:
        built_for, now = rec.source.regime, self._now_ms()
        current = regime_of(rec.spec.symbols[0])
        if built_for is None or current is None or current == built_for:
            self.regime_seen_ms[rec.id] = now
            return False
        last = self.regime_seen_ms.setdefault(rec.id, max(rec.status_since_ms, now))
        if (now - last) / 3_600_000 >= self.cfg.regime_gone_hours:
            self._retire(rec, f"the {built_for} regime it was built for has been gone for "
                              f"{(now - last) / 3_600_000:.0f} h (now {current})")
            return True
        return False

    def _drifted(self, rec: StrategyRecord, ev: Evidence, candles_of: CandlesOf, demote_to: str) -> bool:
        candles = candles_of(rec.spec.symbols[0])
        if candles is None or not len(candles):
            return False
        # The newest bar is left out: the runner may not have acted on it yet when this runs.
        expected = backtest_window_trades(rec.spec, candles, rec.status_since_ms, int(candles.ts[-1]))
        report = diff_trades(expected, ev.rows, self.step_ms, self.cfg.drift_price_tolerance,
                             [r.ts_ms for r in rec.refused])
        self.last_drift[rec.id] = report.summary()
        enough = max(report.expected, report.actual) >= self.cfg.drift_min_trades
        if not enough or not report.diverged(self.cfg.drift_max_mismatched_fraction):
            return False
        self.store.transition(rec.id, demote_to, "ai", "drift: " + report.summary())
        self._publish(Alert("warning", f"Strategy demoted: {rec.id}", "Executed trades differ from its "
                            f"backtest over the same window: {report.summary()}", key=f"drift:{rec.id}",
                            ts_ms=self._now_ms()))
        return True

    def _retire(self, rec: StrategyRecord, reason: str) -> None:
        self.store.transition(rec.id, "retired", "ai", reason)
        level: AlertLevel = "warning" if rec.status in MONEY_STATUSES else "info"
        self._publish(Alert(level, f"Strategy retired: {rec.id}", reason, key=f"retired:{rec.id}",
                            ts_ms=self._now_ms()))


def _oos_line(rec: StrategyRecord) -> str:
    oos = rec.performance.out_of_sample or {}
    sharpe = oos.get("sharpe")
    return (f"{oos.get('trades', 0)} trades, return {float(oos.get('total_return', 0.0)):+.2%}, "
            f"Sharpe {'n/a' if sharpe is None else f'{sharpe:.2f}'}, max drawdown "
            f"{float(oos.get('max_drawdown', 0.0)):.1%}")
