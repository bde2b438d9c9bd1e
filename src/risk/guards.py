"""Risk guards: every order passes here, and no strategy can go around them.

The router calls :meth:`RiskGuards.check` for every intent before any venue sees it, so the
runner, manual commands and the carry engine all meet the same limits. Orders that *reduce*
risk (exits, stops, take-profits, flattening) are always allowed — a halt must never trap a
position — but are clamped to what is actually held. Entries meet, in order:

control state (emergency stop, halt, kill switch, pause) → daily loss limit → data (the
integrity gate, then a stale last candle) → cooldowns (after a loss, after N losses in a row)
→ leverage and liquidation distance → size caps that *shrink* the order (per symbol, total
exposure, per-strategy allocation, Kelly fraction, correlation with open positions) → the
exchange minimum. Each refusal has a typed :class:`Refusal`, is logged, counted and listed in
status (``risk`` on the status board).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from src.config.execution import RiskConfig
from src.core.clock import Clock
from src.core.timeframes import timeframe_ms
from src.market.cache import MarketCache
from src.orders.interface import OrderIntent
from src.orders.portfolio import StrategyStats
from src.risk.kill_switch import KillSwitch
from src.state.control import Controller

log = logging.getLogger(__name__)

RISK_REDUCING = frozenset({"exit", "stop", "take_profit", "flatten"})


class Refusal(StrEnum):
    """Why a guard refused (or shrank) an order."""

    EMERGENCY_STOP = "emergency_stop"
    HALTED = "halted"
    KILL_SWITCH = "kill_switch"
    PAUSED = "paused"
    DAILY_LOSS = "daily_loss_limit"
    DATA_BLOCKED = "data_blocked"
    DATA_STALE = "data_stale"
    COOLDOWN_LOSS = "cooldown_after_loss"
    COOLDOWN_STREAK = "cooldown_after_losing_streak"
    LEVERAGE = "leverage_limit"
    LIQUIDATION_DISTANCE = "liquidation_too_close"
    POSITION_LIMIT = "position_limit"
    EXPOSURE_LIMIT = "exposure_limit"
    ALLOCATION_LIMIT = "strategy_allocation_limit"
    KELLY_CAP = "kelly_cap"
    NEGATIVE_EDGE = "negative_kelly_edge"
    CORRELATION = "correlated_with_open_position"
    BELOW_MINIMUM = "below_minimum_after_caps"
    NOTHING_TO_CLOSE = "nothing_to_close"
    NO_EQUITY = "no_equity"


@dataclass(frozen=True)
class GuardDecision:
    """The verdict: ``qty_base`` may be smaller than asked (``shrunk_by`` says which caps bit)."""

    allowed: bool
    qty_base: float
    reason: Refusal | None = None
    detail: str = ""
    shrunk_by: tuple[Refusal, ...] = ()


class PortfolioView(Protocol):
    """What the guards read from the portfolio."""

    def equity_quote(self, venue: str | None = None) -> float: ...

    def notional_by_symbol(self) -> dict[str, float]: ...

    def notional_by_strategy(self) -> dict[str, float]: ...

    def strategy_stats(self, strategy_id: str) -> StrategyStats: ...


@dataclass
class GuardCounters:
    refused: Counter[str] = field(default_factory=Counter)
    shrunk: Counter[str] = field(default_factory=Counter)
    allowed: int = 0
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))


class RiskGuards:
    """The one gate between intents and venues."""

    def __init__(self, cfg: RiskConfig, control: Controller, kill_switch: KillSwitch, portfolio: PortfolioView,
                 cache: MarketCache, clock: Clock, min_notional_quote: float,
                 data_gate: Callable[[], Any] = lambda: None) -> None:
        self.cfg, self.control, self.kill, self.portfolio = cfg, control, kill_switch, portfolio
        self.cache, self.clock, self.min_notional_quote = cache, clock, min_notional_quote
        self._data_gate = data_gate
        self.counters = GuardCounters()

    # -- entry point ---------------------------------------------------------------------------
    def check(self, intent: OrderIntent, price_quote: float, leverage: float = 1.0,
              held_base: float | None = None, venue: str | None = None) -> GuardDecision:
        """Decide on one intent at ``price_quote``; ``held_base`` is the position an exit may close,
        ``venue`` the route it goes to (its equity sizes the caps: paper and live never mix)."""
        if intent.reduce_only or intent.purpose in RISK_REDUCING:
            decision = self._check_exit(intent, held_base)
        else:
            decision = self._check_entry(intent, price_quote, leverage, venue)
        self._count(intent, decision)
        return decision

    def _check_exit(self, intent: OrderIntent, held_base: float | None) -> GuardDecision:
        if held_base is None:
            return GuardDecision(True, intent.qty_base)
        if held_base <= 0:
            return GuardDecision(False, 0.0, Refusal.NOTHING_TO_CLOSE, "no position left to close")
        return GuardDecision(True, min(intent.qty_base, held_base))

    def _check_entry(self, intent: OrderIntent, price: float, leverage: float,
                     venue: str | None = None) -> GuardDecision:
        gate = self._state_gate(intent) or self._data_check(intent.symbol) or self._cooldown(intent.strategy_id)
        gate = gate or self._leverage_check(leverage)
        if gate is not None:
            return GuardDecision(False, 0.0, gate[0], gate[1])
        equity = self.portfolio.equity_quote(venue)
        if equity <= 0:
            return GuardDecision(False, 0.0, Refusal.NO_EQUITY, f"equity {equity:.2f}")
        return self._size_caps(intent, price, equity)

    # -- gates (refuse) ------------------------------------------------------------------------
    def _state_gate(self, _intent: OrderIntent) -> tuple[Refusal, str] | None:
        ks, st = self.kill.state, self.control.state
        if ks.emergency:
            return Refusal.EMERGENCY_STOP, ks.tripped_reason
        if ks.tripped:
            return Refusal.KILL_SWITCH, ks.tripped_reason
        if st.halted:
            return Refusal.HALTED, st.summary()
        if st.paused or st.stop_requested:
            return Refusal.PAUSED, st.summary() if st.paused else "stopping"
        if self.kill.daily_blocked(self.clock.now_ms()):
            return Refusal.DAILY_LOSS, "daily loss limit reached; entries resume at 00:00 UTC"
        return None

    def _data_check(self, symbol: str) -> tuple[Refusal, str] | None:
        gate = self._data_gate()
        if gate is not None and not gate.allows_entry(symbol):
            return Refusal.DATA_BLOCKED, f"data integrity gate blocks {symbol}"
        ts = self.cache.series(symbol).timestamps
        step = timeframe_ms(self.cache.timeframe)
        if len(ts) == 0:
            return Refusal.DATA_STALE, f"no candles for {symbol}"
        age = self.clock.now_ms() - (int(ts[-1]) + step)
        if age > self.cfg.stale_after_bars * step:
            return Refusal.DATA_STALE, f"last {symbol} candle closed {age / 60_000:.0f} min ago"
        return None

    def _cooldown(self, strategy_id: str) -> tuple[Refusal, str] | None:
        stats = self.portfolio.strategy_stats(strategy_id)
        if stats.last_loss_ms is None:
            return None
        since_min = (self.clock.now_ms() - stats.last_loss_ms) / 60_000
        if stats.consecutive_losses >= self.cfg.max_consecutive_losses and \
                since_min < self.cfg.cooldown_after_streak_minutes:
            return Refusal.COOLDOWN_STREAK, f"{stats.consecutive_losses} losses in a row; cooling down"
        if stats.consecutive_losses >= 1 and since_min < self.cfg.cooldown_after_loss_minutes:
            return Refusal.COOLDOWN_LOSS, f"last trade lost {since_min:.0f} min ago"
        return None

    def _leverage_check(self, leverage: float) -> tuple[Refusal, str] | None:
        if leverage > self.cfg.max_leverage + 1e-12:
            return Refusal.LEVERAGE, f"leverage {leverage:g} above {self.cfg.max_leverage:g}"
        if leverage > 1.0:
            distance = 1.0 / leverage - self.cfg.maintenance_margin
            if distance < self.cfg.min_liquidation_distance:
                return Refusal.LIQUIDATION_DISTANCE, (f"liquidation {distance:.1%} away, minimum "
                                                      f"{self.cfg.min_liquidation_distance:.1%}")
        return None

    # -- caps (shrink) -------------------------------------------------------------------------
    def _size_caps(self, intent: OrderIntent, price: float, equity: float) -> GuardDecision:
        want = intent.qty_base * price
        sign = 1.0 if intent.side == "buy" else -1.0
        by_symbol = self.portfolio.notional_by_symbol()
        caps: list[tuple[float, Refusal]] = [
            (self.cfg.max_position_fraction * equity - max(0.0, sign * by_symbol.get(intent.symbol, 0.0)),
             Refusal.POSITION_LIMIT),
            (self.cfg.max_total_exposure_fraction * equity - sum(abs(v) for v in by_symbol.values()),
             Refusal.EXPOSURE_LIMIT),
            (self.cfg.max_strategy_allocation_fraction * equity
             - self.portfolio.notional_by_strategy().get(intent.strategy_id, 0.0), Refusal.ALLOCATION_LIMIT),
        ]
        kelly = self._kelly_cap(intent.strategy_id, equity)
        if kelly is not None:
            if kelly[0] <= 0:
                return GuardDecision(False, 0.0, Refusal.NEGATIVE_EDGE, kelly[1])
            caps.append((kelly[0], Refusal.KELLY_CAP))
        allowed, shrunk = want, list[Refusal]()
        for cap, reason in caps:
            if cap < allowed:
                allowed, shrunk = max(0.0, cap), [*shrunk, reason]
        corr = self._correlated(intent.symbol, sign, by_symbol)
        if corr is not None:
            if self.cfg.correlation_action == "refuse":
                return GuardDecision(False, 0.0, Refusal.CORRELATION, corr)
            allowed, shrunk = allowed * self.cfg.correlation_shrink, [*shrunk, Refusal.CORRELATION]
        if allowed < max(self.min_notional_quote, 1e-9):
            reason = shrunk[-1] if shrunk else Refusal.BELOW_MINIMUM
            return GuardDecision(False, 0.0, reason, f"allowed size {allowed:.2f} below the order minimum",
                                 tuple(shrunk))
        return GuardDecision(True, intent.qty_base * allowed / want, None, "", tuple(shrunk))

    def _kelly_cap(self, strategy_id: str, equity: float) -> tuple[float, str] | None:
        stats = self.portfolio.strategy_stats(strategy_id)
        if stats.n_trades < self.cfg.kelly_min_trades:
            return None
        f = stats.kelly()
        if f is None:
            return None
        return self.cfg.kelly_fraction * f * equity, f"Kelly {f:.3f} over {stats.n_trades} trades"

    def _correlated(self, symbol: str, sign: float, by_symbol: dict[str, float]) -> str | None:
        """Name the open position whose same-direction returns correlate above the threshold."""
        for other, notional in by_symbol.items():
            if other == symbol or notional == 0 or np.sign(notional) != sign:
                continue
            rho = self.correlation(symbol, other)
            if rho is not None and rho >= self.cfg.correlation_threshold:
                return f"{symbol} return correlation with open {other} is {rho:.2f}"
        return None

    def correlation(self, a: str, b: str) -> float | None:
        """Pearson correlation of log returns over the last ``correlation_window_bars`` shared bars."""
        n = self.cfg.correlation_window_bars + 1
        sa, sb = self.cache.series(a), self.cache.series(b)
        ts, ia, ib = np.intersect1d(sa.timestamps[-n:], sb.timestamps[-n:], return_indices=True)
        if len(ts) < 10:
            return None
        ca = sa.ohlcv[-n:][ia, 3]
        cb = sb.ohlcv[-n:][ib, 3]
        ra, rb = np.diff(np.log(ca)), np.diff(np.log(cb))
        if ra.std() == 0 or rb.std() == 0:
            return None
        return float(np.corrcoef(ra, rb)[0, 1])

    # -- reporting -----------------------------------------------------------------------------
    def _count(self, intent: OrderIntent, d: GuardDecision) -> None:
        c = self.counters
        for reason in d.shrunk_by:
            c.shrunk[reason.value] += 1
        if d.allowed:
            c.allowed += 1
            return
        assert d.reason is not None
        c.refused[d.reason.value] += 1
        c.recent.append({"ts_ms": self.clock.now_ms(), "strategy_id": intent.strategy_id, "symbol": intent.symbol,
                         "reason": d.reason.value, "detail": d.detail})
        log.debug("risk refused %s %s %s (%s): %s", intent.strategy_id, intent.side, intent.symbol,
                 d.reason.value, d.detail)

    def describe(self) -> dict[str, object]:
        c = self.counters
        return {"allowed": c.allowed, "refused": dict(c.refused), "shrunk": dict(c.shrunk),
                "recent_refusals": list(c.recent), "kill_switch": self.kill.describe()}
