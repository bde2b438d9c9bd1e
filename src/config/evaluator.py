"""Settings of the strategy evaluator (the `evaluator:` section of config.yaml).

Frozen and strict so that a typo in config.yaml fails at start-up with the key named, instead
of silently evaluating every strategy with a default the operator did not choose.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from src.config.fees import FeesConfig

_DASK_ADDRESS = re.compile(r"^dask://[A-Za-z0-9_.\-]+:\d{1,5}$")


class RankingWeights(BaseModel):
    """Weights of the ranking score (selection segment only); each term is scaled to roughly [-1, 1].
    Key names are kept from older configs: `oos_sharpe` weighs the selection segment's Sharpe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    oos_sharpe: float = Field(1.0, ge=0.0, le=10.0, description="annualized selection-segment Sharpe")
    significance: float = Field(1.0, ge=0.0, le=10.0, description="selection-segment Sharpe probability")
    drawdown: float = Field(1.0, ge=0.0, le=10.0, description="penalty per unit of max drawdown")
    stability: float = Field(0.5, ge=0.0, le=10.0, description="share of profitable walk-forward windows")
    turnover: float = Field(0.1, ge=0.0, le=10.0, description="penalty per 100 round trips a year")


class EvaluatorConfig(BaseModel):
    """Costs, significance gates, splits and executor of the strategy evaluator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_cash: float = Field(10_000.0, gt=0.0, description="quote currency at the start of a backtest")
    fees: FeesConfig = Field(FeesConfig(), description="copied from the top-level fees: section (one schedule)")
    slippage_bps: float = Field(2.0, ge=0.0, le=500.0, description="adverse price move per fill, bps")
    maintenance_margin: float = Field(0.005, ge=0.0, le=0.5, description="fraction of notional (liquidation)")
    min_trades: int = Field(30, ge=1, le=100_000, description="test-segment round trips needed to pass")
    min_oos_years: float = Field(1.0, gt=0.0, le=50.0, description="test segment this long in time ...")
    min_oos_round_trips: int = Field(100, ge=1, le=1_000_000, description="... or this many round trips, "
                                     "else the verdict is 'not enough evidence'")
    max_pbo: float = Field(0.5, ge=0.0, le=1.0, description="largest probability of backtest overfitting of "
                           "the cycle's candidate set (0.5: the in-sample best lands below the median as often "
                           "as above)")
    dsr_level: float = Field(0.95, gt=0.5, lt=1.0, description="deflated Sharpe probability to pass")
    oos_fraction: float = Field(0.3, gt=0.05, lt=0.9, description="last share of the bars kept out of sample")
    walk_forward_windows: int = Field(5, ge=2, le=50, description="consecutive windows for stability")
    min_positive_windows: float = Field(0.5, ge=0.0, le=1.0, description="share of WF windows with profit")
    max_drawdown: float = Field(0.5, gt=0.0, le=1.0, description="reject when MC 95% drawdown exceeds this")
    lookahead_checks: int = Field(12, ge=0, le=1000, description="bars re-computed on truncated series")
    bootstrap_samples: int = Field(2000, ge=100, le=100_000)
    monte_carlo_runs: int = Field(1000, ge=100, le=100_000)
    pbo_blocks: int = Field(10, ge=4, le=16, description="CSCV blocks (even); C(S, S/2) combinations")
    seed: int = Field(7, ge=0, description="seed of every resampling, so verdicts are reproducible")
    ranking: RankingWeights = Field(default_factory=RankingWeights)
    executor: str = Field("process", description='"process" or "dask://host:port"')
    workers: int = Field(2, ge=1, le=256, description="local worker processes")
    dask_probe_timeout_s: float = Field(30.0, gt=0.0, le=600.0, description="start-up probe of a Dask cluster")
    dask_retry_s: float = Field(60.0, gt=0.0, le=86_400.0, description="re-probe a missing cluster this often")
    dask_task_timeout_s: float = Field(900.0, gt=0.0, le=86_400.0, description="one batch on the cluster")

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        if value != "process" and not _DASK_ADDRESS.match(value):
            raise ValueError('must be "process" or "dask://host:port"')
        return value

    @model_validator(mode="after")
    def _even_blocks(self) -> EvaluatorConfig:
        if self.pbo_blocks % 2:
            raise ValueError("pbo_blocks must be even")
        return self
