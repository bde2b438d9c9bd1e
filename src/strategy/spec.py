"""Typed strategy specification: the body of every `strategies/*.json` file.

A strategy is data, not code: a **rule form** (conditions over named indicators) plus **risk
genes** (sizing, stops, trailing, partial take-profits, leverage). Generators (LLM, genetic
search, templates) can therefore invent new strategies without new Python, and every proposal
is parsed here, range-checked, and rejected with the offending field named before anything
trusts it. Built-in families are thin functions that fill in the rule form (`family_spec`).

All fields are plain JSON types with documented bounds so `StrategySpec.model_json_schema()`
is usable as an LLM response schema.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from src.core.enums import Market

IndicatorName = Literal[
    "close", "open", "high", "low", "volume",
    "ema", "sma", "rsi", "adx", "plus_di", "minus_di",
    "macd", "macd_signal", "macd_hist", "atr", "atr_pct",
    "bb_upper", "bb_mid", "bb_lower", "bb_pctb", "bb_width",
    "donchian_upper", "donchian_lower", "donchian_mid",
    "vwap", "volume_ma", "volume_ratio", "volatility",
    "funding_rate", "funding_ma", "rel_strength",
]
"""Every indicator a condition may reference; see `src.strategy.indicators` for definitions."""

Operator = Literal[">", "<", "crosses_above", "crosses_below"]
StrategyType = Literal["momentum", "mean_reversion", "breakout", "funding_carry", "rule"]
Timeframe = Literal["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d"]

TIMEFRAME_MS: dict[str, int] = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000,
    "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
}

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class IndicatorRef(_Strict):
    """One indicator series: name, look-back `period`, and lag `shift` (bars into the past).

    `period2`/`period3` are only read by MACD (slow, signal); `mult` by Bollinger (std
    multiple). `shift=1` is how a breakout compares today's close with yesterday's channel.
    """

    name: IndicatorName
    period: int = Field(14, ge=1, le=2000, description="look-back bars")
    period2: int = Field(26, ge=1, le=2000, description="MACD slow period")
    period3: int = Field(9, ge=1, le=2000, description="MACD signal period")
    mult: FiniteFloat = Field(2.0, gt=0.0, le=10.0, description="Bollinger band width in std")
    shift: int = Field(0, ge=0, le=500, description="bars of lag")
    ref: str | None = Field(None, min_length=1, max_length=40, pattern=r"^[A-Z0-9]+/[A-Z0-9]+(:[A-Z0-9]+)?$",
                            description="rel_strength only: the symbol to compare with, e.g. BTC/USDT")

    @model_validator(mode="after")
    def _macd_order(self) -> IndicatorRef:
        if self.name.startswith("macd") and self.period2 <= self.period:
            raise ValueError(f"period2 (slow={self.period2}) must exceed period (fast={self.period})")
        if (self.name == "rel_strength") != (self.ref is not None):
            raise ValueError("ref names the comparison symbol and is given exactly for rel_strength")
        return self


class Condition(_Strict):
    """`left <op> right` where right is another indicator or a constant `threshold`."""

    left: IndicatorRef
    op: Operator
    right: IndicatorRef | None = None
    threshold: FiniteFloat | None = Field(None, ge=-1e12, le=1e12)
    weight: FiniteFloat = Field(1.0, gt=0.0, le=100.0, description="vote weight in the group score")

    @model_validator(mode="after")
    def _one_right_side(self) -> Condition:
        if (self.right is None) == (self.threshold is None):
            raise ValueError("exactly one of right or threshold must be given")
        return self


class RuleForm(_Strict):
    """Condition groups. A group fires when the weight share of its true conditions reaches
    `score_threshold` (1.0 = all must hold, i.e. AND; a small value ≈ OR). An empty entry
    group never fires; an empty exit group never exits (stops and time exits still apply).
    Filters gate entries only and must all hold. An opposite entry also closes a position.
    """

    entry_long: list[Condition] = Field(default_factory=list, max_length=12)
    entry_short: list[Condition] = Field(default_factory=list, max_length=12)
    exit_long: list[Condition] = Field(default_factory=list, max_length=12)
    exit_short: list[Condition] = Field(default_factory=list, max_length=12)
    filters: list[Condition] = Field(default_factory=list, max_length=12)
    score_threshold: FiniteFloat = Field(1.0, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _has_entry(self) -> RuleForm:
        if not self.entry_long and not self.entry_short:
            raise ValueError("entry_long or entry_short needs at least one condition")
        return self


class TrailStage(_Strict):
    """Once open profit reaches `trigger_r` (multiples of the initial risk R), the stop is
    raised to `lock_r` R beyond entry (0 = break-even) and/or to `trail_atr` ATRs behind the
    best price. Stages stack: break-even → lock → trail → tight."""

    trigger_r: FiniteFloat = Field(gt=0.0, le=100.0)
    lock_r: FiniteFloat | None = Field(None, ge=-1.0, le=100.0)
    trail_atr: FiniteFloat | None = Field(None, gt=0.0, le=50.0)

    @model_validator(mode="after")
    def _does_something(self) -> TrailStage:
        if self.lock_r is None and self.trail_atr is None:
            raise ValueError("a trail stage needs lock_r or trail_atr")
        if self.lock_r is not None and self.lock_r >= self.trigger_r:
            raise ValueError("lock_r must be below trigger_r")
        return self


class PartialTakeProfit(_Strict):
    """Close `fraction` of the initial quantity when profit reaches `at_r` R."""

    at_r: FiniteFloat = Field(gt=0.0, le=100.0)
    fraction: FiniteFloat = Field(gt=0.0, lt=1.0)


class RiskGenes(_Strict):
    """Sizing and path-dependent exits. R = `stop_atr` × ATR at the signal bar; R-based genes
    (trailing, partials) need `stop_atr > 0`. Zero disables stop, take-profit and max hold."""

    position_fraction: FiniteFloat = Field(1.0, gt=0.0, le=1.0, description="equity share used as margin")
    leverage: FiniteFloat = Field(1.0, ge=1.0, le=125.0)
    atr_period: int = Field(14, ge=1, le=500)
    stop_atr: FiniteFloat = Field(0.0, ge=0.0, le=50.0, description="initial stop in ATRs; 0 = none")
    take_profit_atr: FiniteFloat = Field(0.0, ge=0.0, le=100.0, description="full TP in ATRs; 0 = none")
    trailing: list[TrailStage] = Field(default_factory=list, max_length=4)
    partial_tp: list[PartialTakeProfit] = Field(default_factory=list, max_length=3)
    max_hold_bars: int = Field(0, ge=0, le=1_000_000, description="time exit; 0 = none")
    hedged: bool = Field(False, description="price risk hedged by an opposite spot leg (carry)")
    target_vol: FiniteFloat = Field(0.0, ge=0.0, le=0.5, description=(
        "per-bar std of log returns to size entries to (position_fraction × min(1, target / realised)); "
        "0 = fixed position_fraction"))
    vol_period: int = Field(48, ge=2, le=2000, description="bars of realised volatility for target_vol")

    @field_validator("trailing", "partial_tp")
    @classmethod
    def _ascending(cls, stages: list) -> list:
        keys = [getattr(s, "trigger_r", None) or s.at_r for s in stages]
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            raise ValueError("stages must have strictly increasing R levels")
        return stages

    @model_validator(mode="after")
    def _r_needs_stop(self) -> RiskGenes:
        if (self.trailing or self.partial_tp) and self.stop_atr == 0.0:
            raise ValueError("trailing and partial_tp are measured in R and need stop_atr > 0")
        if sum(p.fraction for p in self.partial_tp) >= 1.0:
            raise ValueError("partial_tp fractions must sum below 1")
        return self


class StrategySpec(_Strict):
    """A complete, self-describing strategy. `parameters` records the family arguments that
    produced the rule form (for people and generators); the engine reads only `rules`/`risk`."""

    id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(min_length=1, max_length=200)
    type: StrategyType = "rule"
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT"], min_length=1, max_length=20)
    timeframe: Timeframe = "1h"
    parameters: dict[str, float | int | str | bool] = Field(default_factory=dict)
    rules: RuleForm
    risk: RiskGenes = Field(default_factory=RiskGenes)

    @field_validator("parameters")
    @classmethod
    def _finite_parameters(cls, params: dict) -> dict:
        for key, value in params.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"parameter {key!r} must be finite")
        return params

    def indicator_refs(self) -> list[IndicatorRef]:
        """Every indicator series the rules read (duplicates removed, order kept)."""
        refs: list[IndicatorRef] = []
        for group in (self.rules.entry_long, self.rules.entry_short, self.rules.exit_long,
                      self.rules.exit_short, self.rules.filters):
            for cond in group:
                for ref in (cond.left, cond.right):
                    if ref is not None and ref not in refs:
                        refs.append(ref)
        return refs

    def reference_symbols(self) -> list[str]:
        """Other symbols whose closes the rules compare with (`rel_strength`), order kept."""
        out: list[str] = []
        for ref in self.indicator_refs():
            if ref.ref is not None and ref.ref not in out:
                out.append(ref.ref)
        return out

    def warmup_bars(self) -> int:
        """Bars before the indicators are all defined (used to size live rolling windows)."""
        need = [self.risk.atr_period + 1]
        if self.risk.target_vol > 0:
            need.append(self.risk.vol_period + 2)
        for ref in self.indicator_refs():
            need.append(max(ref.period, ref.period2 + ref.period3 if ref.name.startswith("macd") else 0)
                        * (3 if ref.name in ("adx", "rsi") else 1) + ref.shift + 1)
        return max(need)


# --------------------------------------------------------------------------- built-in families
class _FamilyParams(_Strict):
    short: bool = Field(False, description="also trade the mirrored short side")


class MomentumParams(_FamilyParams):
    """Moving-average cross, optionally confirmed by ADX/±DI, MACD and volume."""

    fast: int = Field(12, ge=1, le=1000)
    slow: int = Field(26, ge=2, le=2000)
    ma: Literal["ema", "sma"] = "ema"
    adx_min: FiniteFloat = Field(0.0, ge=0.0, le=100.0, description="0 = no ADX/DI confirmation")
    adx_period: int = Field(14, ge=2, le=500)
    macd: bool = Field(False, description="require MACD histogram on the trade's side")
    volume_ratio_min: FiniteFloat = Field(0.0, ge=0.0, le=100.0, description="0 = no volume check")
    volume_period: int = Field(20, ge=1, le=2000)

    @model_validator(mode="after")
    def _slow_above_fast(self) -> MomentumParams:
        if self.slow <= self.fast:
            raise ValueError(f"slow ({self.slow}) must be greater than fast ({self.fast})")
        return self


class MeanReversionParams(_FamilyParams):
    """RSI extremes, optionally only outside the Bollinger bands; exit at the RSI midline."""

    rsi_period: int = Field(14, ge=2, le=500)
    oversold: FiniteFloat = Field(30.0, gt=0.0, lt=50.0)
    overbought: FiniteFloat = Field(70.0, gt=50.0, lt=100.0)
    exit_rsi: FiniteFloat = Field(50.0, gt=0.0, lt=100.0)
    bb_period: int = Field(20, ge=2, le=2000)
    bb_mult: FiniteFloat = Field(2.0, gt=0.0, le=10.0)
    use_bb: bool = True


class BreakoutParams(_FamilyParams):
    """Donchian channel breakout on close; exit on the shorter opposite channel."""

    channel: int = Field(20, ge=2, le=2000)
    exit_channel: int = Field(10, ge=1, le=2000)


class FundingCarryParams(_FamilyParams):
    """Short perp + long spot while smoothed funding pays; price risk hedged, funding earned."""

    entry_rate: FiniteFloat = Field(0.0001, ge=-0.01, le=0.01, description="per 8h funding to enter")
    exit_rate: FiniteFloat = Field(0.0, ge=-0.01, le=0.01)
    period: int = Field(3, ge=1, le=500, description="bars of funding_ma smoothing")

    @model_validator(mode="after")
    def _exit_below_entry(self) -> FundingCarryParams:
        if self.exit_rate > self.entry_rate:
            raise ValueError("exit_rate must not exceed entry_rate")
        return self


def _cond(left: IndicatorRef, op: Operator, right: IndicatorRef | float) -> Condition:
    if isinstance(right, IndicatorRef):
        return Condition(left=left, op=op, right=right)
    return Condition(left=left, op=op, threshold=float(right))


_MIRROR: dict[str, Operator] = {">": "<", "<": ">", "crosses_above": "crosses_below", "crosses_below": "crosses_above"}


def _mirror(op: Operator) -> Operator:
    return _MIRROR[op]


def _momentum_rules(p: MomentumParams) -> RuleForm:
    fast, slow = IndicatorRef(name=p.ma, period=p.fast), IndicatorRef(name=p.ma, period=p.slow)
    long_ = [_cond(fast, "crosses_above", slow)]
    short = [_cond(fast, "crosses_below", slow)]
    if p.adx_min > 0:
        adx = IndicatorRef(name="adx", period=p.adx_period)
        pdi, mdi = IndicatorRef(name="plus_di", period=p.adx_period), IndicatorRef(name="minus_di",
                                                                                   period=p.adx_period)
        long_ += [_cond(adx, ">", p.adx_min), _cond(pdi, ">", mdi)]
        short += [_cond(adx, ">", p.adx_min), _cond(mdi, ">", pdi)]
    if p.macd:
        hist = IndicatorRef(name="macd_hist", period=12, period2=26, period3=9)
        long_.append(_cond(hist, ">", 0.0))
        short.append(_cond(hist, "<", 0.0))
    filters = []
    if p.volume_ratio_min > 0:
        vratio = IndicatorRef(name="volume_ratio", period=p.volume_period)
        filters.append(_cond(vratio, ">", p.volume_ratio_min))
    return RuleForm(entry_long=long_, entry_short=short if p.short else [],
                    exit_long=[_cond(fast, "crosses_below", slow)],
                    exit_short=[_cond(fast, "crosses_above", slow)] if p.short else [], filters=filters)


def _mean_reversion_rules(p: MeanReversionParams) -> RuleForm:
    rsi = IndicatorRef(name="rsi", period=p.rsi_period)
    close = IndicatorRef(name="close", period=1)
    long_ = [_cond(rsi, "<", p.oversold)]
    short = [_cond(rsi, ">", p.overbought)]
    if p.use_bb:
        long_.append(_cond(close, "<", IndicatorRef(name="bb_lower", period=p.bb_period, mult=p.bb_mult)))
        short.append(_cond(close, ">", IndicatorRef(name="bb_upper", period=p.bb_period, mult=p.bb_mult)))
    return RuleForm(entry_long=long_, entry_short=short if p.short else [],
                    exit_long=[_cond(rsi, ">", p.exit_rsi)],
                    exit_short=[_cond(rsi, "<", p.exit_rsi)] if p.short else [])


def _breakout_rules(p: BreakoutParams) -> RuleForm:
    close = IndicatorRef(name="close", period=1)
    up = IndicatorRef(name="donchian_upper", period=p.channel, shift=1)
    lo = IndicatorRef(name="donchian_lower", period=p.channel, shift=1)
    exit_lo = IndicatorRef(name="donchian_lower", period=p.exit_channel, shift=1)
    exit_up = IndicatorRef(name="donchian_upper", period=p.exit_channel, shift=1)
    return RuleForm(entry_long=[_cond(close, ">", up)],
                    entry_short=[_cond(close, "<", lo)] if p.short else [],
                    exit_long=[_cond(close, "<", exit_lo)],
                    exit_short=[_cond(close, ">", exit_up)] if p.short else [])


def _carry_rules(p: FundingCarryParams) -> RuleForm:
    fma = IndicatorRef(name="funding_ma", period=p.period)
    return RuleForm(entry_short=[_cond(fma, ">", p.entry_rate)], exit_short=[_cond(fma, "<", p.exit_rate)])


_FAMILIES: dict[str, tuple[type[BaseModel], Callable[[Any], RuleForm]]] = {
    "momentum": (MomentumParams, _momentum_rules),
    "mean_reversion": (MeanReversionParams, _mean_reversion_rules),
    "breakout": (BreakoutParams, _breakout_rules),
    "funding_carry": (FundingCarryParams, _carry_rules),
}
FAMILY_NAMES: tuple[str, ...] = tuple(_FAMILIES)
_SPEC_KEYS = ("id", "name", "symbols", "timeframe")


def family_spec(family: str, **params: object) -> StrategySpec:
    """Build a spec of a built-in family. `params` mixes the family's parameters (see the
    `*Params` models), any `RiskGenes` field, and optional id/name/symbols/timeframe.
    Strings are coerced ("10" → 10), so CLI `k=v` pairs can be passed straight through.

    Raises `pydantic.ValidationError` naming the bad field, or ValueError for an unknown family.
    """
    if family not in _FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILY_NAMES)}")
    model, build = _FAMILIES[family]
    risk_keys = set(RiskGenes.model_fields)
    risk = {k: v for k, v in params.items() if k in risk_keys}
    top = {k: v for k, v in params.items() if k in _SPEC_KEYS}
    fam = {k: v for k, v in params.items() if k not in risk_keys and k not in _SPEC_KEYS}
    fparams = model.model_validate(fam)
    if family == "funding_carry":
        risk.setdefault("hedged", True)
    recorded = {k: v for k, v in fparams.model_dump().items()}
    slug = "-".join(f"{k}{v}" for k, v in sorted(fam.items()))[:60].replace(" ", "") or "default"
    top.setdefault("id", f"{family}-{slug}".replace("/", "_").replace("=", ""))
    top.setdefault("name", f"{family} {slug}")
    return StrategySpec.model_validate({
        **top, "type": family, "parameters": recorded,
        "rules": build(fparams).model_dump(), "risk": risk,
    })


def market_for(spec: StrategySpec) -> Market:
    """Shorts, leverage and hedged carry need a perp; a plain long trades spot."""
    return Market.PERP if (spec.rules.entry_short or spec.risk.leverage > 1.0 or spec.risk.hedged) else Market.SPOT
