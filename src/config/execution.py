"""Execution, paper-engine, risk and funding-carry settings."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PaperConfig(BaseModel):
    """The paper engine's wallet, cost model, exchange filters and the runner's window.

    With an order book (the simulator publishes one per bar) market orders walk its depth; with
    candles only, the fill price is the reference price moved by half the spread plus an impact
    that grows with the square root of the order's share of the bar's traded notional.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    starting_balance_quote: float = Field(10_000.0, gt=0)
    latency_ms: float = Field(0.0, ge=0, le=60_000, description="delay between submit and fill")
    candle_spread_bps: float = Field(4.0, ge=0, le=1_000, description="full spread when no book is known")
    candle_impact_bps: float = Field(10.0, ge=0, le=10_000, description="impact at 100% of bar notional")
    book_max_age_ms: int = Field(3_600_000, ge=0, description="older books are ignored (candle model)")
    limit_participation: float = Field(0.1, gt=0, le=1, description="share of traded volume a resting limit gets")
    min_notional_quote: float = Field(5.0, ge=0, description="default exchange minimum order value")
    percent_price_band: float = Field(0.1, gt=0, le=10, description="limit price must be within ±band of last")
    runner_window_bars: int = Field(1000, ge=50, le=100_000, description="candles handed to the signal code")


class RiskConfig(BaseModel):
    """Guards that sit above every strategy; fractions are of current equity unless named otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_position_fraction: float = Field(0.2, gt=0, le=10, description="notional per symbol")
    max_total_exposure_fraction: float = Field(1.0, gt=0, le=50, description="notional over all symbols")
    max_strategy_allocation_fraction: float = Field(0.25, gt=0, le=10, description="notional per strategy")
    max_leverage: float = Field(3.0, ge=1, le=125)
    min_liquidation_distance: float = Field(0.1, gt=0, lt=1, description="fraction of price to liquidation")
    maintenance_margin: float = Field(0.005, ge=0, lt=0.5)
    kelly_fraction: float = Field(0.5, gt=0, le=1, description="share of the full Kelly bet allowed")
    kelly_min_trades: int = Field(20, ge=2, description="closed trades before Kelly caps sizing")
    daily_loss_limit_fraction: float = Field(0.05, gt=0, le=1, description="entries stop for the UTC day")
    max_drawdown_fraction: float = Field(0.2, gt=0, le=1, description="kill switch, from peak equity")
    kill_switch_action: Literal["stop_entries", "flatten"] = "stop_entries"
    correlation_threshold: float = Field(0.8, gt=0, le=1)
    correlation_window_bars: int = Field(100, ge=10, le=10_000)
    correlation_action: Literal["shrink", "refuse"] = "shrink"
    correlation_shrink: float = Field(0.5, gt=0, lt=1)
    cooldown_after_loss_minutes: float = Field(60.0, ge=0)
    max_consecutive_losses: int = Field(3, ge=1)
    cooldown_after_streak_minutes: float = Field(720.0, ge=0)
    stale_after_bars: float = Field(3.0, gt=0, description="no entries when the last candle is older")


class FundingConfig(BaseModel):
    """Funding-rate carry: long spot + short perp on one base while funding pays more than it costs.

    Rates are annualized (fraction per year). Entry needs the trailing funding, net of a round
    trip's fees and slippage spread over ``expected_hold_days``, above ``entry_apr``; the position
    is left when the trailing funding falls below ``exit_apr`` or the basis leaves its band.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    symbols: tuple[str, ...] = ("BTC/USDT",)
    lookback_periods: int = Field(9, ge=1, le=1_000, description="funding settlements averaged (9 = 3 days)")
    entry_apr: float = Field(0.10, description="net annualized funding needed to enter")
    exit_apr: float = Field(0.02, description="trailing annualized funding below which the carry is closed")
    slippage_bps: float = Field(2.0, ge=0, le=500, description="expected per leg and side")
    expected_hold_days: float = Field(30.0, gt=0, le=3_650, description="spreads the round-trip cost")
    allocation_fraction: float = Field(0.15, gt=0, le=1, description="share of equity put into one carry")
    perp_leverage: float = Field(2.0, ge=1, le=10, description="perp margin = notional / leverage")
    hedge_band: float = Field(0.02, gt=0, lt=1, description="re-hedge when |spot - perp| / spot exceeds this")
    margin_band: float = Field(0.5, gt=0, lt=1, description="rebalance when perp equity / margin leaves 1 ± band")
    max_basis_entry: float = Field(0.005, gt=0, lt=1, description="|perp / spot - 1| allowed to enter")
    max_basis_hold: float = Field(0.02, gt=0, lt=1, description="|perp / spot - 1| that forces an exit")
    min_notional_quote: float = Field(20.0, ge=0, description="smaller carries are not opened")
