"""Path-dependent exit rules of one open position, advanced one closed bar at a time.

This module is the contract that makes backtest and live trading take the same exits. The
compiled backtest loop calls `step_bar` for every bar a position is open; the live position
manager calls the same function (through `PositionTracker`) for every new closed candle.

State and parameters are flat float64 arrays so the functions compile with numba and are
callable from plain Python alike.

Per-bar contract of `step_bar(state, params, o, h, l, c, atr_now, fills) -> n_fills`
-------------------------------------------------------------------------------------------
Inputs: the position `state` (see `S_*`), the risk `params` (see `risk_params`), the bar's
open/high/low/close and the ATR known at this bar's close. Within a bar the pessimistic order
is used, because OHLC does not say which extreme came first:

1. adverse side first: liquidation or stop, whichever level is reached first; a gap through
   the stop fills at the open (worse); liquidation fills at the liquidation price;
2. partial take-profits at `at_r` R, in order, each filling at max(open, target) for a long;
3. the full take-profit (`take_profit_atr` ATRs from entry);
4. then, for the *next* bar: the best price is updated with this bar's extreme and every
   trail stage whose trigger is reached ratchets the stop (never loosens it);
5. bars held += 1; at `max_hold_bars` the state asks for an exit at the next open
   (`state[S_TIME_EXIT] = 1`), the same way a signal exit fills.

Output: fills written to `fills[k] = (price, fraction_of_initial_qty, reason)` for k < n_fills;
`state` is updated in place (`state[S_QTY]` is the remaining fraction; 0 means closed).
Prices here are raw levels: the caller applies slippage and fees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from src.strategy.spec import RiskGenes

# state layout
(S_SIDE, S_ENTRY, S_QTY, S_STOP, S_R, S_BEST, S_BARS, S_NEXT_PARTIAL, S_LIQ, S_TP, S_STOP_KIND,
 S_TIME_EXIT) = range(12)
N_STATE = 12
# params layout: scalars, then 4 trail stages × (trigger_r, lock_r|nan, trail_atr|0),
# then 3 partials × (at_r, fraction)
P_STOP_ATR, P_TP_ATR, P_MAX_HOLD, P_LEVERAGE, P_MMR, P_N_TRAIL, P_N_PARTIAL, P_HEDGED = range(8)
P_TRAIL, P_PARTIAL, N_PARAMS = 8, 20, 26
# exit reasons
R_SIGNAL, R_STOP, R_TRAIL, R_TAKE_PROFIT, R_PARTIAL, R_TIME, R_LIQUIDATION, R_END = range(8)
REASONS = ("signal", "stop", "trailing_stop", "take_profit", "partial", "time", "liquidation", "end_of_data")
MAX_FILLS = 5


def risk_params(risk: RiskGenes, maintenance_margin: float = 0.005) -> np.ndarray:
    """Pack a `RiskGenes` into the flat parameter array the compiled code reads."""
    p = np.zeros(N_PARAMS)
    p[P_STOP_ATR], p[P_TP_ATR] = risk.stop_atr, risk.take_profit_atr
    p[P_MAX_HOLD], p[P_LEVERAGE], p[P_MMR] = risk.max_hold_bars, risk.leverage, maintenance_margin
    p[P_N_TRAIL], p[P_N_PARTIAL], p[P_HEDGED] = len(risk.trailing), len(risk.partial_tp), float(risk.hedged)
    for k, st in enumerate(risk.trailing):
        base = P_TRAIL + 3 * k
        p[base] = st.trigger_r
        p[base + 1] = np.nan if st.lock_r is None else st.lock_r
        p[base + 2] = 0.0 if st.trail_atr is None else st.trail_atr
    for k, pt in enumerate(risk.partial_tp):
        p[P_PARTIAL + 2 * k], p[P_PARTIAL + 2 * k + 1] = pt.at_r, pt.fraction
    return p


@njit(cache=True)
def open_state(state: np.ndarray, params: np.ndarray, side: float, entry_price: float,
               atr_signal: float) -> None:
    """Initialise `state` for a position filled at `entry_price`; `atr_signal` is the ATR at
    the signal bar's close (known before the fill). side is +1 long, -1 short."""
    state[:] = np.nan
    state[S_SIDE], state[S_ENTRY], state[S_QTY] = side, entry_price, 1.0
    state[S_BEST], state[S_BARS], state[S_NEXT_PARTIAL] = entry_price, 0.0, 0.0
    state[S_STOP_KIND], state[S_TIME_EXIT] = float(R_STOP), 0.0
    if params[P_STOP_ATR] > 0 and atr_signal > 0:
        state[S_R] = params[P_STOP_ATR] * atr_signal
        state[S_STOP] = entry_price - side * state[S_R]
    if params[P_TP_ATR] > 0 and atr_signal > 0:
        state[S_TP] = entry_price + side * params[P_TP_ATR] * atr_signal
    if params[P_HEDGED] == 0.0:
        lev = params[P_LEVERAGE]
        state[S_LIQ] = entry_price * (1.0 - side * (1.0 / lev - params[P_MMR]))


@njit(cache=True)
def _adverse(state: np.ndarray, o: float, h: float, lo: float, fills: np.ndarray) -> int:
    """Stop / liquidation check; returns 1 and closes the position if either is reached."""
    side, stop, liq = state[S_SIDE], state[S_STOP], state[S_LIQ]
    level, reason = np.nan, R_STOP
    if not np.isnan(stop):
        level, reason = stop, int(state[S_STOP_KIND])
    if not np.isnan(liq) and (np.isnan(level) or side * (liq - level) >= 0):
        level, reason = liq, R_LIQUIDATION
    if np.isnan(level):
        return 0
    extreme = lo if side > 0 else h
    if side * (extreme - level) > 0:
        return 0
    price = level if (reason == R_LIQUIDATION or side * (o - level) > 0) else o
    fills[0, 0], fills[0, 1], fills[0, 2] = price, state[S_QTY], reason
    state[S_QTY] = 0.0
    return 1


@njit(cache=True)
def _take_profits(state: np.ndarray, params: np.ndarray, o: float, h: float, lo: float,
                  fills: np.ndarray, n: int) -> int:
    side, entry, r = state[S_SIDE], state[S_ENTRY], state[S_R]
    favourable = h if side > 0 else lo
    k = int(state[S_NEXT_PARTIAL])
    while k < params[P_N_PARTIAL] and state[S_QTY] > 1e-12:
        target = entry + side * params[P_PARTIAL + 2 * k] * r
        if side * (favourable - target) < 0:
            break
        frac = min(params[P_PARTIAL + 2 * k + 1], state[S_QTY])
        price = o if side * (o - target) > 0 else target
        fills[n, 0], fills[n, 1], fills[n, 2] = price, frac, R_PARTIAL
        state[S_QTY] -= frac
        n += 1
        k += 1
    state[S_NEXT_PARTIAL] = k
    tp = state[S_TP]
    if state[S_QTY] > 1e-12 and not np.isnan(tp) and side * (favourable - tp) >= 0:
        fills[n, 0] = o if side * (o - tp) > 0 else tp
        fills[n, 1], fills[n, 2] = state[S_QTY], R_TAKE_PROFIT
        state[S_QTY] = 0.0
        n += 1
    return n


@njit(cache=True)
def _trail(state: np.ndarray, params: np.ndarray, h: float, lo: float, atr_now: float) -> None:
    side, entry, r = state[S_SIDE], state[S_ENTRY], state[S_R]
    state[S_BEST] = max(state[S_BEST], h) if side > 0 else min(state[S_BEST], lo)
    if np.isnan(r) or r <= 0:
        return
    profit_r = side * (state[S_BEST] - entry) / r
    for k in range(int(params[P_N_TRAIL])):
        base = P_TRAIL + 3 * k
        if profit_r < params[base]:
            break
        cands = (entry + side * params[base + 1] * r if not np.isnan(params[base + 1]) else np.nan,
                 state[S_BEST] - side * params[base + 2] * atr_now if params[base + 2] > 0 else np.nan)
        for cand in cands:
            if not np.isnan(cand) and side * (cand - state[S_STOP]) > 0:
                state[S_STOP] = cand
                state[S_STOP_KIND] = R_TRAIL


@njit(cache=True)
def step_bar(state: np.ndarray, params: np.ndarray, o: float, h: float, lo: float, _c: float,
             atr_now: float, fills: np.ndarray) -> int:
    """Advance an open position through one closed bar; see the module docstring."""
    if state[S_QTY] <= 1e-12:
        return 0
    n = _adverse(state, o, h, lo, fills)
    if n:
        return n
    n = _take_profits(state, params, o, h, lo, fills, 0)
    if state[S_QTY] <= 1e-12:
        state[S_QTY] = 0.0
        return n
    _trail(state, params, h, lo, atr_now)
    state[S_BARS] += 1.0
    if params[P_MAX_HOLD] > 0 and state[S_BARS] >= params[P_MAX_HOLD]:
        state[S_TIME_EXIT] = 1.0
    return n


@njit(cache=True)
def quiet_band(state: np.ndarray, params: np.ndarray) -> tuple[float, float, bool]:
    """(low bound, high bound, static): a bar with low > low bound and high < high bound
    triggers no stop, liquidation or take-profit, so when `static` (no trail stages) it only
    advances the best price, bars held and the time limit. The backtest loop uses this to skip
    `step_bar` on quiet bars; results are identical by construction."""
    side, entry, r = state[S_SIDE], state[S_ENTRY], state[S_R]
    adverse = -side * np.inf
    for level in (state[S_STOP], state[S_LIQ]):
        if not np.isnan(level) and side * (level - adverse) > 0:
            adverse = level
    favourable = side * np.inf
    k = int(state[S_NEXT_PARTIAL])
    if k < params[P_N_PARTIAL]:
        favourable = entry + side * params[P_PARTIAL + 2 * k] * r
    if not np.isnan(state[S_TP]) and side * (state[S_TP] - favourable) < 0:
        favourable = state[S_TP]
    static = params[P_N_TRAIL] == 0
    if side > 0:
        return adverse, favourable, static
    return favourable, adverse, static


@dataclass(frozen=True)
class ExitFill:
    """One exit (partial or full) the rules produced on a bar, before slippage and fees."""

    price: float
    fraction: float
    reason: str


class PositionTracker:
    """Python face of the same rules for the live/paper position manager.

    `open(side, entry_price, atr_signal)` when the entry fills, then `on_bar(o, h, l, c, atr)`
    for each closed candle; it returns the exits to execute now. `exit_at_next_open` tells the
    manager that the time limit was reached (exit like a signal exit at the next open).
    """

    def __init__(self, risk: RiskGenes, maintenance_margin: float = 0.005) -> None:
        self.params = risk_params(risk, maintenance_margin)
        self.state = np.zeros(N_STATE)
        self._fills = np.zeros((MAX_FILLS, 3))

    def open(self, side: int, entry_price: float, atr_signal: float) -> None:
        open_state(self.state, self.params, float(side), float(entry_price), float(atr_signal))

    def on_bar(self, o: float, h: float, low: float, c: float, atr_now: float) -> list[ExitFill]:
        n = step_bar(self.state, self.params, o, h, low, c, atr_now, self._fills)
        return [ExitFill(float(f[0]), float(f[1]), REASONS[int(f[2])]) for f in self._fills[:n]]

    @property
    def is_open(self) -> bool:
        return bool(self.state[S_QTY] > 1e-12)

    @property
    def stop_price(self) -> float:
        return float(self.state[S_STOP])

    @property
    def exit_at_next_open(self) -> bool:
        return bool(self.state[S_TIME_EXIT] == 1.0)
