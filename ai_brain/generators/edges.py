"""Hypotheses where documented edges live, drawn at random but only from those shapes.

* **Funding carry** on the real funding history: short perp + long spot while the smoothed
  rate known at the bar's close pays (the basis/carry trade; BIS Working Paper 1087, "Crypto
  carry", Schmeling, Schrimpf & Todorov 2023). Entry levels are drawn around the symbol's own
  funding quantiles, so the hypotheses fit the rates that symbol actually paid.
* **Multi-timeframe trend with volatility targeting**: a fast cross on the trading timeframe,
  taken only in the direction of a higher-timeframe trend (a moving average `htf` bars long),
  each entry sized to a target volatility (Moskowitz, Ooi & Pedersen 2012; `RiskGenes.target_vol`).
* **Cross-asset relative strength**: long a symbol while it outperforms a peer (BTC, ETH, SOL)
  over a look-back and trends, short it when it lags (Liu & Tsyvinski 2021, cross-sectional
  momentum in crypto); read through the `rel_strength` indicator.
* **Regime-conditional** versions of the built-in families: the same family, with a filter that
  admits entries only in the regime the family is built for — trend (ADX high, price beyond a
  long average), range (ADX low), calm (realised volatility below its long-run level).

Every hypothesis is a plain `StrategySpec`, goes through the same evaluator and is counted in
the same trial ledger as any other. Seeded per cycle, like the templates.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np

from ai_brain.generators.hypothesis_generator import GenerationContext, Hypothesis, make_id
from ai_brain.generators.templates import _params, _risk
from src.strategy.spec import Condition, IndicatorRef, RuleForm, StrategySpec, family_spec

EDGE_FAMILIES = ("carry", "mtf_vol_trend", "relative_strength", "regime")
_HTF_BARS = (4, 6, 12, 24)  # higher timeframe as a multiple of the trading bar: 4h, 6h, 12h, 1d on 1h


def _c(left: IndicatorRef, op: str, right: IndicatorRef | float) -> Condition:
    if isinstance(right, IndicatorRef):
        return Condition.model_validate({"left": left.model_dump(), "op": op, "right": right.model_dump()})
    return Condition.model_validate({"left": left.model_dump(), "op": op, "threshold": float(right)})


def _named(spec: StrategySpec, edge: str) -> StrategySpec:
    data = spec.model_dump()
    data["parameters"] = {**data["parameters"], "edge": edge}
    data["id"] = make_id(StrategySpec.model_validate(data), "edges")
    data["name"] = f"{edge} {spec.symbols[0]} {spec.timeframe} #{data['id'][-6:]}"
    return StrategySpec.model_validate(data)


def carry(rng: random.Random, ctx: GenerationContext, symbol: str) -> tuple[StrategySpec, str] | None:
    """Carry with entry/exit levels drawn from the symbol's own funding distribution."""
    fund = ctx.funding.get(symbol)
    if fund is None or len(fund.rate) < 30:
        return None  # no funding history: carry cannot be judged, so it is not proposed
    past = fund.rate[fund.ts < ctx.decision_ts_ms] if ctx.decision_ts_ms else fund.rate
    if len(past) < 30:
        return None
    entry = float(np.quantile(past, rng.uniform(0.5, 0.9)))
    exit_ = float(np.quantile(past, rng.uniform(0.05, 0.5)))
    entry, exit_ = round(max(entry, 1e-6), 7), round(min(exit_, entry), 7)
    spec = family_spec("funding_carry", symbols=[symbol], timeframe=ctx.timeframe, entry_rate=entry,
                       exit_rate=exit_, period=rng.randint(1, 9), position_fraction=rng.choice([0.5, 1.0]))
    why = (f"Funding carry on {symbol}'s own history: enter when the smoothed rate exceeds {entry:.5%} per "
           f"settlement (a high quantile of what it paid), leave below {exit_:.5%}; price risk hedged.")
    return spec, why


def mtf_vol_trend(rng: random.Random, ctx: GenerationContext, symbol: str) -> tuple[StrategySpec, str] | None:
    """Fast EMA cross in the direction of a higher-timeframe average, sized to a target volatility."""
    fast = rng.randint(5, 30)
    slow = fast + rng.randint(5, 60)
    htf = rng.choice(_HTF_BARS) * rng.choice([20, 50])
    if htf <= slow:
        return None
    f, s = IndicatorRef(name="ema", period=fast), IndicatorRef(name="ema", period=slow)
    close, trend = IndicatorRef(name="close", period=1), IndicatorRef(name="sma", period=htf)
    short = rng.random() < 0.5
    rules = RuleForm(entry_long=[_c(f, "crosses_above", s), _c(close, ">", trend)],
                     entry_short=[_c(f, "crosses_below", s), _c(close, "<", trend)] if short else [],
                     exit_long=[_c(f, "crosses_below", s)], exit_short=[_c(f, "crosses_above", s)] if short else [])
    target = round(rng.uniform(0.003, 0.012), 4)  # per 1h bar, about 28% to 112% a year
    risk = {**_risk(rng), "position_fraction": 1.0, "target_vol": target, "vol_period": rng.choice([24, 48, 96, 168])}
    spec = StrategySpec.model_validate({
        "id": "tmp", "name": "tmp", "type": "rule", "symbols": [symbol], "timeframe": ctx.timeframe,
        "parameters": {"fast": fast, "slow": slow, "htf_sma": htf, "short": short, "target_vol": target},
        "rules": rules.model_dump(), "risk": risk})
    why = (f"Multi-timeframe trend: EMA {fast}/{slow} cross only with the {htf}-bar trend, each entry sized to "
           f"{target:.2%} per-bar volatility so quiet and wild markets risk alike.")
    return spec, why


def relative_strength(rng: random.Random, ctx: GenerationContext, symbol: str) -> tuple[StrategySpec, str] | None:
    """Trade a symbol on its strength against a peer's, confirmed by its own trend."""
    peers = [p for p in ctx.symbols if p != symbol]
    if not peers:
        return None
    peer = rng.choice(peers)
    look = rng.choice([24, 48, 72, 168, 336, 720])
    edge = round(rng.uniform(0.0, 0.05), 4)
    rs = IndicatorRef(name="rel_strength", period=look, ref=peer)
    close, trend = IndicatorRef(name="close", period=1), IndicatorRef(name="ema", period=rng.choice([50, 100, 200]))
    short = rng.random() < 0.5
    rules = RuleForm(entry_long=[_c(rs, ">", edge), _c(close, ">", trend)],
                     entry_short=[_c(rs, "<", -edge), _c(close, "<", trend)] if short else [],
                     exit_long=[_c(rs, "<", 0.0)], exit_short=[_c(rs, ">", 0.0)] if short else [])
    spec = StrategySpec.model_validate({
        "id": "tmp", "name": "tmp", "type": "rule", "symbols": [symbol], "timeframe": ctx.timeframe,
        "parameters": {"peer": peer, "lookback": look, "edge": edge, "short": short},
        "rules": rules.model_dump(), "risk": _risk(rng)})
    why = (f"Relative strength: long {symbol} while its {look}-bar return beats {peer}'s by {edge:.1%} and it "
           f"trends{'; short when it lags' if short else ''}. Leaders in crypto tend to keep leading.")
    return spec, why


_REGIME_FILTERS: dict[str, Callable[[random.Random], list[Condition]]] = {
    "trend": lambda rng: [_c(IndicatorRef(name="adx", period=14), ">", float(rng.choice([20, 25, 30])))],
    "range": lambda rng: [_c(IndicatorRef(name="adx", period=14), "<", float(rng.choice([15, 20, 25])))],
    "calm": lambda rng: [_c(IndicatorRef(name="volatility", period=24), "<",
                            IndicatorRef(name="volatility", period=rng.choice([240, 720])))],
    "bull": lambda rng: [_c(IndicatorRef(name="close", period=1), ">",
                            IndicatorRef(name="sma", period=rng.choice([200, 500, 1000])))],
}
_REGIME_FOR = {"momentum": ("trend", "bull", "calm"), "breakout": ("trend", "calm"),
               "mean_reversion": ("range", "calm")}


def regime(rng: random.Random, ctx: GenerationContext, symbol: str) -> tuple[StrategySpec, str] | None:
    """A built-in family whose entries are gated to the regime it is built for."""
    family = rng.choice(list(_REGIME_FOR))
    which = rng.choice(_REGIME_FOR[family])
    try:
        base = family_spec(family, symbols=[symbol], timeframe=ctx.timeframe,
                           **_params(rng, family, short=rng.random() < 0.4), **_risk(rng))
    except ValueError:
        return None
    data = base.model_dump()
    data["rules"]["filters"] = [*data["rules"]["filters"], *(c.model_dump() for c in _REGIME_FILTERS[which](rng))]
    data["parameters"] = {**data["parameters"], "regime": which}
    reading = ctx.regimes.get(symbol)
    now = f" Now: {reading.describe()}." if reading else ""
    return StrategySpec.model_validate(data), f"{family} only in a {which} regime, where the family has its edge.{now}"


_DRAWS = {"carry": carry, "mtf_vol_trend": mtf_vol_trend, "relative_strength": relative_strength, "regime": regime}


class EdgeSource:
    """Round-robin over the edge families and symbols; a family that cannot apply is skipped."""

    name = "edges"

    def __init__(self, per_cycle: int, seed: int = 7) -> None:
        self.per_cycle = per_cycle
        self.seed = seed

    def draw(self, rng: random.Random, ctx: GenerationContext, symbol: str, edge: str) -> Hypothesis | None:
        try:
            made = _DRAWS[edge](rng, ctx, symbol)
        except ValueError:  # a draw outside a spec's own constraints: draw again
            return None
        if made is None:
            return None
        spec, why = made
        reading = ctx.regimes.get(symbol)
        return Hypothesis(spec=_named(spec, edge), generator=self.name, reasoning=why,
                          regime=reading.label if reading else None)

    async def propose(self, ctx: GenerationContext) -> list[Hypothesis]:
        rng = random.Random(hash((self.seed, ctx.cycle, ctx.decision_ts_ms)) & 0xFFFFFFFF)
        out: list[Hypothesis] = []
        symbols = ctx.symbols
        for k in range(self.per_cycle * 4 if symbols else 0):
            if len(out) >= self.per_cycle:
                break
            h = self.draw(rng, ctx, symbols[k % len(symbols)], EDGE_FAMILIES[(k // len(symbols)) % 4])
            if h is not None:
                out.append(h)
        return out
