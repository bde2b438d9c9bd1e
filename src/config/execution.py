"""Execution, paper-engine, risk and funding-carry settings."""

from pydantic import BaseModel, ConfigDict, Field


class PaperConfig(BaseModel):
    """The paper engine's wallet and cost model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    starting_balance_quote: float = Field(10_000.0, gt=0)
    taker_fee_bps: float = Field(10.0, ge=0)
    maker_fee_bps: float = Field(10.0, ge=0)


class RiskConfig(BaseModel):
    """Guards that sit above every strategy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_position_fraction: float = Field(0.2, gt=0, le=1)
    max_drawdown_fraction: float = Field(0.2, gt=0, le=1)


class FundingConfig(BaseModel):
    """Funding-rate carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
