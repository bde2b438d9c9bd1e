"""The ``fees:`` section: the one fee schedule's rates (see :mod:`src.orders.fees`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FeesConfig(BaseModel):
    """Fee rates in basis points of notional. Defaults are Binance's regular-tier (VIP 0) rates:
    spot 0.100% maker and taker; USDⓈ-M futures 0.020% maker, 0.050% taker. The exchange's own
    per-symbol figures replace them when the bot can read them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spot_taker_bps: float = Field(10.0, ge=0, le=500, description="spot market orders")
    spot_maker_bps: float = Field(10.0, ge=0, le=500, description="spot resting limit orders")
    perp_taker_bps: float = Field(5.0, ge=0, le=500, description="perpetual futures market orders")
    perp_maker_bps: float = Field(2.0, ge=0, le=500, description="perpetual futures resting limit orders")
