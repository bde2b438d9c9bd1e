"""Compiled event loop of the backtester: signals on close, fills on the next open.

One numba function walks the bars once per strategy; per bar it (1) charges perp funding to a
position carried over a settlement, (2) executes the previous bar's signals at this open
(exit first, then entry; an opposite entry both closes and reverses), (3) lets
`position_rules.step_bar` take stops, liquidation, partial and full take-profits intrabar, and
(4) marks equity at the close. An open position is closed at the last close. Bars that cannot
trigger any level (`position_rules.quiet_band`) skip the full step: same result, far fewer
cycles while a position is held.

Costs: every fill pays `fee_bps` of its notional (twice for a hedged carry: two legs); resting
take-profits pay `maker_fee_bps`. Market fills (entries, signal/time/stop exits) move
`slippage_bps` against the trader; take-profits and the liquidation price fill at their level. Sizing: margin = equity ×
`position_fraction`, notional = margin × `leverage`; P&L is linear (USDT-margined).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from src.orders.fees import FeeSchedule
from src.strategy import indicators as ind
from src.strategy import position_rules as pr
from src.strategy.data import Candles, Funding
from src.strategy.signals import IndicatorCache, Signals, compute_signals, series_key
from src.strategy.sizing import fraction_series
from src.strategy.spec import StrategySpec, market_for

TRADE_FIELDS = ("entry_bar", "exit_bar", "side", "entry_price", "exit_price", "qty", "fees",
                "funding", "pnl", "ret", "reason", "fills", "gross_pnl")
(T_ENTRY_BAR, T_EXIT_BAR, T_SIDE, T_ENTRY_PX, T_EXIT_PX, T_QTY, T_FEES, T_FUNDING, T_PNL, T_RET,
 T_REASON, T_FILLS, T_GROSS) = range(len(TRADE_FIELDS))


@dataclass(frozen=True)
class CostModel:
    """Per-fill costs as fractions of notional (bps / 1e4)."""

    fee_bps: float = 10.0
    slippage_bps: float = 2.0
    maker_fee_bps: float | None = None  # resting take-profit orders; None = same as fee_bps


def cost_model(spec: StrategySpec, fees: FeeSchedule, slippage_bps: float) -> CostModel:
    """The backtest's per-fill costs from the one fee schedule, for the market the spec trades on.

    A hedged carry pays both legs (the engine doubles the rate), so its rate is the legs' mean."""
    if spec.risk.hedged:
        taker = (fees.bps("spot") + fees.bps("perp")) / 2.0
        maker = (fees.bps("spot", "maker") + fees.bps("perp", "maker")) / 2.0
    else:
        market = market_for(spec)
        taker, maker = fees.bps(market), fees.bps(market, "maker")
    return CostModel(taker, slippage_bps, maker)


@njit(cache=True)
def _close_fill(trade: np.ndarray, state: np.ndarray, qty0: float, price: float, frac: float,
                fee_rate: float, price_mult: float) -> float:
    """Book one exit fill into the open trade row; returns the cash change."""
    q = qty0 * frac
    gross = price_mult * state[pr.S_SIDE] * q * (price - state[pr.S_ENTRY])
    fee = q * price * fee_rate
    trade[T_EXIT_PX] += price * frac
    trade[T_FEES] += fee
    trade[T_GROSS] += gross
    trade[T_FILLS] += 1.0
    return gross - fee


@njit(cache=True)
def _finish(trade: np.ndarray, bar: int, reason: int, equity_at_entry: float) -> None:
    trade[T_EXIT_BAR] = bar
    trade[T_REASON] = reason
    trade[T_PNL] = trade[T_GROSS] - trade[T_FEES] - trade[T_FUNDING]
    trade[T_RET] = trade[T_PNL] / equity_at_entry


@njit(cache=True)
def _exit_all(trades, nt, state, qty0, price, fee_rate, pm, bar, reason, eq_entry) -> float:
    cash = _close_fill(trades[nt], state, qty0, price, state[pr.S_QTY], fee_rate, pm)
    state[pr.S_QTY] = 0.0
    _finish(trades[nt], bar, reason, eq_entry)
    return cash


@njit(cache=True)
def _enter(trades, nt, state, params, side, px, atr_sig, cash, fraction, fee_rate, bar) -> tuple:
    """Open a position at fill price `px`; returns (cash after the fee, qty0)."""
    qty0 = cash * fraction * params[pr.P_LEVERAGE] / px
    pr.open_state(state, params, side, px, atr_sig)
    trades[nt, :] = 0.0
    trades[nt, T_ENTRY_BAR], trades[nt, T_SIDE] = bar, side
    trades[nt, T_ENTRY_PX], trades[nt, T_QTY] = px, qty0
    fee_in = qty0 * px * fee_rate
    trades[nt, T_FEES] = fee_in
    return cash - fee_in, qty0


@njit(cache=True)
def _step(trades, nt, state, params, fills, o, h, lo, c, atr_now, qty0, fee_rate, maker_rate, pm, slip,
          bar, eq_entry) -> tuple:
    """Full exit step for one bar; returns (cash change, position closed?)."""
    side = state[pr.S_SIDE]
    nf = pr.step_bar(state, params, o, h, lo, c, atr_now, fills)
    cash = 0.0
    for k in range(nf):
        px, reason = fills[k, 0], int(fills[k, 2])
        if reason == pr.R_STOP or reason == pr.R_TRAIL:
            px = px * (1.0 - side * slip)
        rate = maker_rate if (reason == pr.R_PARTIAL or reason == pr.R_TAKE_PROFIT) else fee_rate
        cash += _close_fill(trades[nt], state, qty0, px, fills[k, 1], rate, pm)
    closed = nf > 0 and state[pr.S_QTY] <= 0.0
    if closed:
        _finish(trades[nt], bar, int(fills[nf - 1, 2]), eq_entry)
    return cash, closed


@njit(cache=True, nogil=True)
def run_loop(o, h, lo, c, atr, el, es, xl, xs, funding, params, fee, maker_fee, slip, cash0, fraction,
             start, end, trades, equity) -> int:
    """The hot loop (see module docstring). Writes `trades` rows and `equity[i - start]` for
    bars [start, end); `funding` is per bar or empty (no funding); `fraction[j]` is the equity
    share for an entry signalled at bar j (see `src.strategy.sizing`); returns closed trades."""
    state = np.zeros(pr.N_STATE)
    fills = np.zeros((pr.MAX_FILLS, 3))
    fee_rate = fee * (2.0 if params[pr.P_HEDGED] != 0.0 else 1.0)
    maker_rate = maker_fee * (2.0 if params[pr.P_HEDGED] != 0.0 else 1.0)
    pm = 0.0 if params[pr.P_HEDGED] != 0.0 else 1.0
    cash, side, qty0, eq_entry, nt = cash0, 0.0, 0.0, cash0, 0
    band_lo, band_hi, quiet_static = 0.0, 0.0, False
    max_hold = params[pr.P_MAX_HOLD]
    has_funding = funding.shape[0] > 0
    for i in range(start, end):
        if side != 0.0 and has_funding and funding[i] != 0.0:
            pay = side * qty0 * state[pr.S_QTY] * o[i] * funding[i]
            cash -= pay
            trades[nt, T_FUNDING] += pay
        if i > start:
            j = i - 1
            if side != 0.0:
                sig_exit = (xl[j] or es[j]) if side > 0 else (xs[j] or el[j])
                if sig_exit or state[pr.S_TIME_EXIT] == 1.0:
                    reason = pr.R_SIGNAL if sig_exit else pr.R_TIME
                    px = o[i] * (1.0 - side * slip)
                    cash += _exit_all(trades, nt, state, qty0, px, fee_rate, pm, i, reason, eq_entry)
                    nt, side = nt + 1, 0.0
            # inline on purpose: a call with array arguments per bar costs more than the loop body
            want = (1.0 if el[j] else 0.0) - (1.0 if es[j] else 0.0)
            if (side == 0.0 and want != 0.0 and cash > 0.0 and fraction[j] > 0.0
                    and (params[pr.P_STOP_ATR] == 0.0 or atr[j] > 0.0)):
                side, eq_entry = want, cash
                cash, qty0 = _enter(trades, nt, state, params, side, o[i] * (1.0 + side * slip), atr[j],
                                    cash, fraction[j], fee_rate, i)
                band_lo, band_hi, quiet_static = pr.quiet_band(state, params)
        if side != 0.0 and quiet_static and lo[i] > band_lo and h[i] < band_hi:
            state[pr.S_BEST] = max(state[pr.S_BEST], h[i]) if side > 0 else min(state[pr.S_BEST], lo[i])
            state[pr.S_BARS] += 1.0
            if max_hold > 0 and state[pr.S_BARS] >= max_hold:
                state[pr.S_TIME_EXIT] = 1.0
        elif side != 0.0:
            dcash, closed = _step(trades, nt, state, params, fills, o[i], h[i], lo[i], c[i], atr[i], qty0,
                                  fee_rate, maker_rate, pm, slip, i, eq_entry)
            cash += dcash
            if closed:
                nt, side = nt + 1, 0.0
            band_lo, band_hi, quiet_static = pr.quiet_band(state, params)
        unreal = pm * side * qty0 * state[pr.S_QTY] * (c[i] - state[pr.S_ENTRY]) if side != 0.0 else 0.0
        equity[i - start] = cash + unreal
    if side != 0.0:
        px = c[end - 1] * (1.0 - side * slip)
        cash += _exit_all(trades, nt, state, qty0, px, fee_rate, pm, end - 1, pr.R_END, eq_entry)
        nt += 1
        equity[end - 1 - start] = cash
    return nt


@dataclass(frozen=True)
class BacktestResult:
    """Trades (float rows, columns `TRADE_FIELDS`; bar numbers index `ts`) and the equity at
    each close of bars [start, start + len(equity)). Exit price is the fill-weighted average."""

    trades: np.ndarray
    equity: np.ndarray
    ts: np.ndarray
    start: int
    initial_cash: float

    @property
    def equity_ts(self) -> np.ndarray:
        return self.ts[self.start:self.start + self.equity.shape[0]]

    @property
    def n_trades(self) -> int:
        return int(self.trades.shape[0])

    def trade_frame(self) -> pd.DataFrame:
        """Trade list with UTC timestamps, side and exit reason in words."""
        t = pd.DataFrame(self.trades, columns=list(TRADE_FIELDS))
        bars = t[["entry_bar", "exit_bar"]].astype(np.int64)
        t.insert(0, "entry_ts", self.ts[bars["entry_bar"].to_numpy()])
        t.insert(1, "exit_ts", self.ts[bars["exit_bar"].to_numpy()])
        t["side"] = np.where(t["side"] > 0, "long", "short")
        t["reason"] = [pr.REASONS[int(r)] for r in t["reason"]]
        return t


def run_backtest(spec: StrategySpec, candles: Candles, funding: Funding | None = None,
                 costs: CostModel = CostModel(), initial_cash: float = 10_000.0,
                 maintenance_margin: float = 0.005, start: int = 0, end: int | None = None,
                 signals: Signals | None = None, cache: IndicatorCache | None = None) -> BacktestResult:
    """Backtest `spec` over bars [start, end). Signals are computed on the whole series
    (causal, so earlier bars serve as indicator warm-up) unless given."""
    end = len(candles) if end is None else end
    sig = signals if signals is not None else compute_signals(spec, candles, funding, cache)
    atr = _atr(spec, candles, cache)
    fund = (funding.settled_per_bar(candles.ts, candles.step_ms()) if funding is not None
            else np.zeros(0))
    cap = int(np.count_nonzero(sig.entry_long[start:end]) + np.count_nonzero(sig.entry_short[start:end])) + 1
    trades = np.zeros((cap, len(TRADE_FIELDS)))
    equity = np.empty(end - start)
    params = pr.risk_params(spec.risk, maintenance_margin)
    n = run_loop(candles.open, candles.high, candles.low, candles.close, atr, sig.entry_long,
                 sig.entry_short, sig.exit_long, sig.exit_short, fund, params, costs.fee_bps / 1e4,
                 (costs.fee_bps if costs.maker_fee_bps is None else costs.maker_fee_bps) / 1e4,
                 costs.slippage_bps / 1e4, float(initial_cash), fraction_series(spec.risk, candles),
                 start, end, trades, equity)
    return BacktestResult(trades=trades[:n].copy(), equity=equity, ts=candles.ts,
                          start=start, initial_cash=float(initial_cash))


def run_many(specs: list[StrategySpec], candles: Candles, funding: Funding | None = None,
             costs: CostModel = CostModel(), initial_cash: float = 10_000.0, threads: int = 2) -> list[BacktestResult]:
    """Backtest many specs on the same candles (a parameter sweep).

    Indicators are computed once per distinct series and signals serially (numpy), then the
    compiled loops run on `threads` threads: the loop releases the GIL, so they run in parallel.
    """
    cache: IndicatorCache = {}
    prepared = [(spec, compute_signals(spec, candles, funding, cache)) for spec in specs]
    for spec in specs:
        _atr(spec, candles, cache)

    def one(item: tuple[StrategySpec, Signals]) -> BacktestResult:
        return run_backtest(item[0], candles, funding, costs, initial_cash, signals=item[1], cache=cache)

    if threads <= 1 or len(prepared) < 2:
        return [one(item) for item in prepared]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, prepared))


def _atr(spec: StrategySpec, candles: Candles, cache: IndicatorCache | None) -> np.ndarray:
    key = (*series_key(candles), "atr-risk", spec.risk.atr_period)
    if cache is not None and key in cache:
        return cache[key]
    a = ind.atr(candles.high, candles.low, candles.close, spec.risk.atr_period)
    if cache is not None:
        cache[key] = a
    return a


def book_slippage_bps(levels_price: np.ndarray, levels_qty: np.ndarray, notional_quote: float) -> float:
    """Slippage of a market order of `notional_quote` walking one side of an L2 book.

    Levels are best first. Returns the VWAP's distance from the best price in bps; raises when
    the book is too thin to fill the order (a strategy that needs more depth must not pass).
    """
    best = float(levels_price[0])
    cum_quote = np.cumsum(levels_price * levels_qty)
    if cum_quote[-1] < notional_quote:
        raise ValueError("order larger than the visible book depth")
    k = int(np.searchsorted(cum_quote, notional_quote))
    filled_before = cum_quote[k - 1] if k > 0 else 0.0
    qty = float(np.sum(levels_qty[:k])) + (notional_quote - filled_before) / levels_price[k]
    vwap = notional_quote / qty
    return abs(vwap - best) / best * 1e4
