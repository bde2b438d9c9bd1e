"""Typed, frozen configuration: ``config.yaml`` for behaviour, the environment for secrets.

Every section rejects unknown keys, so a typo like ``max_drawdwon`` stops start-up with a line
that names it instead of silently running on a default. Secrets never live in the YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from src.config.brain import REMOVED_KEYS, BrainConfig, LLMConfig
from src.config.evaluator import EvaluatorConfig
from src.config.execution import FundingConfig, PaperConfig, RiskConfig
from src.config.fees import FeesConfig
from src.config.market import DataQualityConfig, ExchangeConfig
from src.config.secrets import Secrets, load_secrets
from src.config.telegram import TelegramConfig
from src.core.enums import Mode as ModeEnum
from src.core.errors import LabError

Mode = ModeEnum  # the run modes (src/core/enums.py)

__all__ = ["AppConfig", "ConfigError", "Mode", "Secrets", "load_config", "load_secrets"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimulatorConfig(_Section):
    """The built-in seeded market: same seed, same market."""

    seed: int = 7
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    start_prices: tuple[float, ...] = (60_000.0, 3_000.0, 150.0)
    start: str = "2024-01-01T00:00:00Z"
    book_levels: int = Field(20, ge=1, le=500)
    funding_period_hours: float = Field(8.0, gt=0)


class ReplayConfig(_Section):
    """Offline replay: from candle files, or from the simulator when no file is given."""

    data: tuple[str, ...] = ()
    speed: float = Field(3600.0, gt=0, description="simulated seconds per wall second")
    timeframe: str = "1h"
    warmup_bars: int = Field(300, ge=0)
    simulator: SimulatorConfig = SimulatorConfig()


class SupervisorConfig(_Section):
    """Task restarts and shutdown."""

    heartbeat_seconds: float = Field(3.0, gt=0)
    restart_backoff_initial_s: float = Field(0.5, gt=0)
    restart_backoff_max_s: float = Field(60.0, gt=0)
    crash_alert_count: int = Field(3, ge=1)
    crash_alert_window_s: float = Field(600.0, gt=0)
    shutdown_timeout_s: float = Field(5.0, gt=0)
    cancel_open_orders_on_stop: bool = False


class LoggingConfig(_Section):
    """Rotating log file and console level."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    file: str = "ai_lab.log"
    max_bytes: int = Field(5_000_000, ge=10_000)
    backups: int = Field(5, ge=0, le=100)


class LiveConfig(_Section):
    """The config half of the double gate; a person's confirmation is the other half."""

    allow_live_trading: bool = False
    initial_size_fraction: float = Field(0.1, gt=0, le=1)
    # a person's go-live counts this long, then must be given again (a week: re-checked, not nagging)
    confirmation_max_age_hours: float = Field(168.0, gt=0, le=720)


class AppConfig(_Section):
    """The whole validated configuration."""

    mode: Mode = Mode.REPLAY
    quote: str = "USDT"
    replay: ReplayConfig = ReplayConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    logging: LoggingConfig = LoggingConfig()
    live: LiveConfig = LiveConfig()
    exchange: ExchangeConfig = ExchangeConfig()
    data_quality: DataQualityConfig = DataQualityConfig()
    evaluator: EvaluatorConfig = EvaluatorConfig()
    brain: BrainConfig = BrainConfig()
    llm: LLMConfig = LLMConfig()
    paper: PaperConfig = PaperConfig()
    risk: RiskConfig = RiskConfig()
    funding: FundingConfig = FundingConfig()
    telegram: TelegramConfig = TelegramConfig()
    fees: FeesConfig = FeesConfig()

    @model_validator(mode="after")
    def _accelerated_clock_only_on_testnet(self) -> AppConfig:
        """Money must never run on a clock that is not the wall's: live and paper keep speed 1."""
        ex = self.exchange
        if ex.testnet_clock_speed != 1.0 and self.mode != Mode.TESTNET:
            raise ValueError(f"exchange.testnet_clock_speed is {ex.testnet_clock_speed}, allowed only in mode testnet")
        if ex.testnet_clock_speed != 1.0 and ex.testnet_clock_anchor_ms is None:
            raise ValueError("exchange.testnet_clock_speed needs exchange.testnet_clock_anchor_ms")
        return self

    @model_validator(mode="after")
    def _one_fee_schedule(self) -> AppConfig:
        """The evaluator prices fills with the same schedule as paper and live (it travels with its
        config to worker processes and Dask workers)."""
        if self.evaluator.fees != self.fees:
            object.__setattr__(self, "evaluator", self.evaluator.model_copy(update={"fees": self.fees}))
        return self


class ConfigError(LabError):
    """A config problem, phrased as one line that names the key, the value and what is allowed."""


def _describe(err: Any) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "<root>"
    kind = err.get("type", "")
    value = err.get("input")
    if kind == "extra_forbidden" and loc in REMOVED_KEYS:
        return f"config: '{loc}' was removed: {REMOVED_KEYS[loc]}"
    if kind == "extra_forbidden":
        return f"config: unknown key '{loc}' (value {value!r}); check the spelling against config.yaml"
    ctx = err.get("ctx") or {}
    allowed = ", ".join(f"{k}={v}" for k, v in ctx.items() if k != "error") or err.get("msg", "")
    return f"config: bad value for '{loc}': {value!r} — {err.get('msg', 'invalid')} ({allowed})"


# Keys that left their section when fees became one schedule: named, with where they went.
_MOVED = {
    ("evaluator", "fee_bps"): "fees.spot_taker_bps / fees.perp_taker_bps",
    ("evaluator", "maker_fee_bps"): "fees.spot_maker_bps / fees.perp_maker_bps",
    ("evaluator", "fees"): "the top-level fees: section",
    ("paper", "taker_fee_bps"): "fees.spot_taker_bps / fees.perp_taker_bps",
    ("paper", "maker_fee_bps"): "fees.spot_maker_bps / fees.perp_maker_bps",
    ("funding", "spot_fee_bps"): "fees.spot_taker_bps",
    ("funding", "perp_fee_bps"): "fees.perp_taker_bps",
}


def _moved_key(data: dict[str, Any]) -> str | None:
    for (section, key), where in _MOVED.items():
        block = data.get(section)
        if isinstance(block, dict) and key in block:
            return (f"config: '{section}.{key}' moved to {where} (one fee schedule for backtests, paper and "
                    "live); move the value there")
    return None


def parse_config(data: object) -> AppConfig:
    """Validate a mapping (from YAML) into an :class:`AppConfig` or raise a one-line ConfigError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config: the top level must be a mapping, got {type(data).__name__}")
    moved = _moved_key(data)
    if moved is not None:
        raise ConfigError(moved)
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0])) from None


def load_config(path: Path, overrides: dict[str, object] | None = None) -> AppConfig:
    """Read ``path`` (YAML), apply dotted-key ``overrides`` (from the command line), validate."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config: {path.name} is not valid YAML{where}") from None
    data = data or {}
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return parse_config(data)
