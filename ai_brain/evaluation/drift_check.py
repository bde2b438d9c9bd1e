"""Drift check: re-run the backtest over exactly the window a strategy traded and diff trade by trade.

Backtest, replay, paper and live share one signal implementation, so over the same candles the
backtest's trades and the executed trades should be the same list. When they are not — a fill
far from the modelled price, a trade the backtest would not have made, a missed one — the
strategy's evidence is not what its backtest promised, and the lifecycle demotes it with the
list of trades that differed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ai_brain.evaluation.backtest_engine import CostModel, run_backtest
from src.strategy.data import Candles, Funding
from src.strategy.spec import StrategySpec


@dataclass(frozen=True)
class BacktestTrade:
    """The comparable part of a trade: side, entry/exit open times (ms) and fill prices (quote)."""

    side: str
    entry_ts: int
    exit_ts: int
    entry_price: float
    exit_price: float
    reason: str = ""

    @property
    def open_at_end(self) -> bool:
        """The backtest closed it only because the window ended; live it may still be open."""
        return self.reason == "end"


@dataclass
class DriftReport:
    """Matched, mismatched and unmatched trades, plus the verdict against the tolerance."""

    expected: int
    actual: int
    matched: int = 0
    differences: list[str] = field(default_factory=list)
    refused: int = 0  # expected entries a risk guard refused: recorded, not counted as drift

    @property
    def mismatched(self) -> int:
        return len(self.differences)

    def mismatched_fraction(self) -> float:
        total = max(self.expected - self.refused, self.actual)
        return self.mismatched / total if total else 0.0

    def diverged(self, max_fraction: float) -> bool:
        return self.mismatched_fraction() > max_fraction

    def summary(self) -> str:
        head = (f"{self.matched} of {self.expected} backtest trades matched "
                f"({self.actual} executed, {self.refused} refused by a guard, {self.mismatched} differences)")
        return head + (": " + "; ".join(self.differences[:5]) if self.differences else "")


def backtest_window_trades(spec: StrategySpec, candles: Candles, start_ts: int, end_ts: int,
                           funding: Funding | None = None, costs: CostModel | None = None) -> list[BacktestTrade]:
    """Trades the backtest makes over bars with ``start_ts <= ts < end_ts``; earlier bars serve
    only as indicator warm-up, exactly as a strategy that started trading at ``start_ts``."""
    start = int(np.searchsorted(candles.ts, start_ts, side="left"))
    end = int(np.searchsorted(candles.ts, end_ts, side="left"))
    if end - start < 2:
        return []
    res = run_backtest(spec, candles, funding, costs or CostModel(), start=start, end=end)
    frame = res.trade_frame()
    return [BacktestTrade(side=str(r.side), entry_ts=int(r.entry_ts), exit_ts=int(r.exit_ts),
                     entry_price=float(r.entry_price), exit_price=float(r.exit_price), reason=str(r.reason))
            for r in frame.itertuples(index=False)]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b else abs(a - b)


def diff_trades(expected: list[BacktestTrade], actual: list[BacktestTrade], step_ms: int,
                price_tolerance: float, refused_ts: Sequence[int] = ()) -> DriftReport:
    """Pair trades by side and entry time (within one bar) and report every difference.

    Trades the backtest closed only because the window ended are compared on entry only, and
    not missed when absent, since the real position may still be open. An expected entry that a
    risk guard refused (``refused_ts``, within one bar) is counted as refused, not as missing.
    """
    report = DriftReport(expected=len(expected), actual=len(actual))
    unused = list(actual)
    for exp in expected:
        match = next((a for a in unused if a.side == exp.side and abs(a.entry_ts - exp.entry_ts) <= step_ms), None)
        if match is None and any(abs(ts - exp.entry_ts) <= step_ms for ts in refused_ts):
            report.refused += 1
            continue
        if match is None:
            if not exp.open_at_end:
                report.differences.append(f"missing {exp.side} trade entered at {exp.entry_ts}")
            continue
        unused.remove(match)
        problems = []
        if _rel(match.entry_price, exp.entry_price) > price_tolerance:
            problems.append(f"entry {match.entry_price:.6g} vs backtest {exp.entry_price:.6g}")
        if exp.open_at_end:
            pass  # closed live before the window's end; the backtest had no exit yet to compare
        elif abs(match.exit_ts - exp.exit_ts) > step_ms:
            problems.append(f"exit at {match.exit_ts} vs backtest {exp.exit_ts}")
        elif _rel(match.exit_price, exp.exit_price) > price_tolerance:
            problems.append(f"exit {match.exit_price:.6g} vs backtest {exp.exit_price:.6g}")
        if problems:
            report.differences.append(f"{exp.side} trade entered at {exp.entry_ts}: " + ", ".join(problems))
        else:
            report.matched += 1
    for extra in unused:
        report.differences.append(f"unexpected {extra.side} trade entered at {extra.entry_ts}")
    return report
