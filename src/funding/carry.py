"""Funding-rate carry: the decision, shared by the backtest and the live/paper/replay runner.

The trade: hold ``q`` base long on spot and ``q`` base short on the perpetual. Price moves cancel
(delta-neutral); what is left is the funding the short receives while longs pay it (positive
rates), minus fees, slippage and whatever the basis (perp vs spot price) does in between.

One pure function, :func:`decide`, turns what is known at a decision time into an action, so the
backtest (:mod:`src.funding.backtest`) and the runner (:mod:`src.funding.runner`) cannot disagree:

* **enter** when the trailing funding, annualized and net of a round trip's fees + slippage spread
  over the expected holding time, exceeds ``entry_apr`` — and the basis is inside its entry band;
* **exit** when the trailing funding falls below ``exit_apr`` (funding flipped or faded), or the
  basis leaves its hold band (basis-risk guard: the hedge no longer hedges);
* **rebalance_hedge** when spot and perp quantities drift apart beyond ``hedge_band`` (partial
  fills, lot rounding), and **rebalance_margin** when the perp leg's equity leaves
  ``1 ± margin_band`` of the margin it needs (a rally eats the short's margin; liquidation risk).

Only funding already settled at the decision time is used: no look-ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from src.config.execution import FundingConfig
from src.orders.fees import FeeSchedule

Action = Literal["enter", "exit", "rebalance_hedge", "rebalance_margin", "hold"]
HOURS_PER_YEAR = 24.0 * 365.0


@dataclass(frozen=True)
class CarryParams:
    """The carry's knobs in plain fractions (built from :class:`FundingConfig`)."""

    lookback_periods: int = 9
    entry_apr: float = 0.10
    exit_apr: float = 0.02
    spot_fee: float = 0.001
    perp_fee: float = 0.0005
    slippage: float = 0.0002
    expected_hold_days: float = 30.0
    allocation_fraction: float = 0.15
    leverage: float = 2.0
    hedge_band: float = 0.02
    margin_band: float = 0.5
    max_basis_entry: float = 0.005
    max_basis_hold: float = 0.02
    min_notional_quote: float = 20.0
    period_hours: float = 8.0

    @classmethod
    def from_config(cls, cfg: FundingConfig, period_hours: float = 8.0, fees: FeeSchedule | None = None) -> CarryParams:
        """The carry's parameters; both legs are priced by the one fee schedule (taker fills)."""
        fees = fees or FeeSchedule()
        return cls(lookback_periods=cfg.lookback_periods, entry_apr=cfg.entry_apr, exit_apr=cfg.exit_apr,
                   spot_fee=fees.rate("spot"), perp_fee=fees.rate("perp"), slippage=cfg.slippage_bps / 1e4,
                   expected_hold_days=cfg.expected_hold_days, allocation_fraction=cfg.allocation_fraction,
                   leverage=cfg.perp_leverage, hedge_band=cfg.hedge_band, margin_band=cfg.margin_band,
                   max_basis_entry=cfg.max_basis_entry, max_basis_hold=cfg.max_basis_hold,
                   min_notional_quote=cfg.min_notional_quote, period_hours=period_hours)

    @property
    def periods_per_year(self) -> float:
        return HOURS_PER_YEAR / self.period_hours

    @property
    def round_trip_cost(self) -> float:
        """Fraction of notional paid to open and close both legs (fees + slippage, each side)."""
        return 2.0 * (self.spot_fee + self.perp_fee + 2.0 * self.slippage)

    def spot_share(self) -> float:
        """Share of the carry's capital that buys spot; the rest is perp margin (notional / leverage)."""
        return self.leverage / (self.leverage + 1.0)


def trailing_apr(rates: Sequence[float], params: CarryParams) -> float | None:
    """Mean of the last ``lookback_periods`` settled rates, annualized; None until there are enough."""
    if len(rates) < params.lookback_periods:
        return None
    window = rates[-params.lookback_periods:]
    return float(sum(window) / len(window)) * params.periods_per_year


def net_entry_apr(gross_apr: float, params: CarryParams) -> float:
    """What entering is expected to earn per year after the round trip's cost."""
    return gross_apr - params.round_trip_cost * 365.0 / params.expected_hold_days


def basis(spot_price: float, perp_price: float) -> float:
    """Perp premium over spot as a fraction (positive = contango)."""
    return perp_price / spot_price - 1.0


@dataclass(frozen=True)
class CarryView:
    """What is known at one decision time. Quantities in base; ``perp_short_qty`` is positive for a short."""

    in_position: bool
    gross_apr: float | None
    basis: float | None
    spot_qty: float = 0.0
    perp_short_qty: float = 0.0
    margin_ratio: float | None = None


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def decide(view: CarryView, params: CarryParams) -> Decision:
    """The one carry rule (see the module docstring); exits are checked before rebalances."""
    if not view.in_position:
        return _decide_entry(view, params)
    if view.basis is not None and abs(view.basis) > params.max_basis_hold:
        return Decision("exit", f"basis guard: basis {view.basis:+.4%} beyond ±{params.max_basis_hold:.2%}")
    if view.gross_apr is not None and view.gross_apr < params.exit_apr:
        return Decision("exit", f"funding {view.gross_apr:.2%}/yr fell below {params.exit_apr:.2%}/yr")
    ref = max(view.spot_qty, view.perp_short_qty)
    if ref > 0 and abs(view.spot_qty - view.perp_short_qty) / ref > params.hedge_band:
        return Decision("rebalance_hedge", f"hedge drift: spot {view.spot_qty:.8g} vs perp {view.perp_short_qty:.8g}")
    if view.margin_ratio is not None and abs(view.margin_ratio - 1.0) > params.margin_band:
        return Decision("rebalance_margin", f"perp equity at {view.margin_ratio:.2f}x its required margin")
    return Decision("hold", "carry on")


def _decide_entry(view: CarryView, params: CarryParams) -> Decision:
    if view.gross_apr is None:
        return Decision("hold", "waiting for funding history")
    net = net_entry_apr(view.gross_apr, params)
    if net <= params.entry_apr:
        return Decision("hold", f"net funding {net:.2%}/yr below entry {params.entry_apr:.2%}/yr")
    if view.basis is not None and abs(view.basis) > params.max_basis_entry:
        return Decision("hold", f"basis guard: basis {view.basis:+.4%} beyond ±{params.max_basis_entry:.2%}")
    return Decision("enter", f"net funding {net:.2%}/yr above {params.entry_apr:.2%}/yr")


def funding_payment_quote(perp_short_qty: float, mark_price: float, rate: float) -> float:
    """Funding the short *receives* for one settlement (negative when it pays)."""
    return perp_short_qty * mark_price * rate


__all__ = ["Action", "CarryParams", "CarryView", "Decision", "basis", "decide", "funding_payment_quote",
           "net_entry_apr", "trailing_apr"]
