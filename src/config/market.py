"""Market-data settings: exchange access, polling, data-integrity thresholds.

Defaults are safe for a first paper run against Binance: a polite request budget well under the
exchange's published limits, and validator thresholds tuned so the clean real candle files pass
(legitimate outage gaps and flat bars degrade a symbol, they never block it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExchangeConfig(_Section):
    """Which ccxt exchange to talk to, and how politely."""

    id: str = Field("binance", description="ccxt id of the spot exchange")
    futures_id: str | None = Field("binanceusdm", description="ccxt id of the perpetual futures venue")
    api_base_url: str | None = Field(
        None, description="replace the scheme+host of every ccxt API url (a proxy, or a loopback fake)")
    sandbox: bool = Field(False, description="use the exchange's testnet urls (testnet mode)")
    testnet_venue: Literal["demo", "spot_testnet"] = Field(
        "demo", description="testnet mode: Binance demo trading (spot + futures, one demo key) or the spot "
                            "testnet only (ccxt no longer signs the futures testnet)")
    # Futures account set-up, applied per perp symbol at start-up in testnet/live (one-way mode only).
    default_leverage: int = Field(1, ge=1, le=125, description="leverage set on every perp symbol")
    leverage: dict[str, int] = Field(default_factory=dict, description="per-symbol leverage, e.g. {BTC/USDT: 2}")
    margin_mode: Literal["isolated", "cross"] = Field("isolated", description="margin mode set on every perp")
    order_lookup_window_s: float = Field(
        10.0, ge=1.0, le=600.0, description="a lost order answer is re-sent only after lookups said 'not found' "
                                            "this long (must exceed the exchange's lookup lag)")
    timeout_ms: int = Field(10_000, ge=100, le=120_000)
    # Accelerated market time, for soaking a testnet bot against a fake exchange (refused elsewhere).
    testnet_clock_speed: float = Field(1.0, ge=1.0, le=10_000.0,
                                       description="testnet only: market seconds per wall second")
    testnet_clock_anchor_ms: int | None = Field(
        None, description="testnet only: the wall time (epoch ms) from which the accelerated clock runs")
    # Retries of temporary failures (network, 5xx, 429); permanent errors are never retried.
    retry_attempts: int = Field(5, ge=1, le=20)
    retry_base_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)
    max_retry_after_s: float = Field(120.0, gt=0, description="cap on an honoured Retry-After")
    default_ban_s: float = Field(120.0, gt=0, description="418 ban length when no Retry-After is sent")
    # One request budget per exchange, in ccxt's per-endpoint cost units; capacity is this fraction
    # of the limit ccxt encodes for the exchange (Binance spot: 6000 weight/min), leaving headroom
    # for other tools on the same IP.
    rate_budget_fraction: float = Field(0.5, gt=0, le=1)
    # Realtime polling (paper / testnet / live).
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
    timeframes: tuple[str, ...] = ("1m", "1h")
    candle_poll_s: float = Field(10.0, gt=0)
    ticker_poll_s: float = Field(5.0, gt=0)
    book_poll_s: float = Field(15.0, gt=0)
    book_depth: int = Field(20, ge=1, le=1000)
    funding_poll_s: float = Field(60.0, gt=0)
    ohlcv_page_limit: int = Field(1000, ge=10, le=1500)
    cache_dir: str = Field("data/cache", description="historical candle cache, relative to the data root")

    @model_validator(mode="after")
    def _check(self) -> ExchangeConfig:
        _require(self.retry_max_s >= self.retry_base_s, "exchange.retry_max_s must be >= retry_base_s")
        _require(not (self.sandbox and self.api_base_url),
                 "exchange.sandbox and exchange.api_base_url exclude each other")
        _require(bool(self.symbols), "exchange.symbols must name at least one symbol")
        for sym, lev in self.leverage.items():
            _require("/" in sym and ":" not in sym, f"exchange.leverage: '{sym}' is not a BASE/QUOTE symbol")
            _require(1 <= lev <= 125, f"exchange.leverage.{sym}: {lev} is outside 1..125")
        return self

    def leverage_for(self, symbol: str) -> int:
        """The leverage configured for ``symbol`` (BASE/QUOTE), else the default."""
        return self.leverage.get(symbol, self.default_leverage)


class DataQualityConfig(_Section):
    """Thresholds of the data-integrity validator; each one is a named trade-off, see the docs."""

    stale_after_bars: float = Field(3.0, gt=0, description="no new closed candle for N timeframes")
    max_missing_fraction: float = Field(0.05, ge=0, le=1, description="missing bars above this block")
    max_zero_volume_fraction: float = Field(0.01, ge=0, le=1, description="flat bars above this block")
    spike_window: int = Field(100, ge=10, description="bars in the rolling robust scale of returns")
    spike_mad_k: float = Field(12.0, gt=0, description="isolated move of k robust sigmas = spike")
    spike_single_k: float = Field(30.0, gt=0, description="one-sided jump on the newest bar = spike")
    spike_min_move: float = Field(0.02, ge=0, description="a spike must also move price this fraction")
    volume_anomaly_x: float = Field(100.0, gt=1, description="volume this many x its rolling median")
    recent_bars: int = Field(300, ge=10, description="window the live monitor validates on every candle")
    ticker_degrade_pct: float = Field(1.0, gt=0, description="last close vs ticker disagreement")
    ticker_block_pct: float = Field(5.0, gt=0)
    basis_degrade_pct: float = Field(2.0, gt=0, description="spot vs perp price disagreement")
    basis_block_pct: float = Field(10.0, gt=0)
    spread_degrade_pct: float = Field(0.5, gt=0, description="best ask over best bid")
    spread_block_pct: float = Field(5.0, gt=0)
    funding_degrade_abs: float = Field(0.0075, gt=0, description="|funding| per period that degrades")
    funding_block_abs: float = Field(0.03, gt=0, description="|funding| per period that is implausible")
    check_interval_s: float = Field(5.0, gt=0, description="how often the monitor re-checks staleness")

    @model_validator(mode="after")
    def _check(self) -> DataQualityConfig:
        for name in ("ticker", "basis", "spread"):
            lo, hi = getattr(self, f"{name}_degrade_pct"), getattr(self, f"{name}_block_pct")
            _require(hi >= lo, f"data_quality.{name}_block_pct must be >= {name}_degrade_pct")
        _require(self.funding_block_abs >= self.funding_degrade_abs,
                 "data_quality.funding_block_abs must be >= funding_degrade_abs")
        return self


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
