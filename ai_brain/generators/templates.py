"""Random search over the built-in families, so a bot with no API key still discovers.

Parameters are drawn from ranges a trader would consider sane; the family mix leans towards
what the symbol's current regime suggests (trend-following in a trend, mean reversion in a
range, carry when funding pays) but always keeps some of every family, so a wrong regime call
cannot starve a family. Seeded per cycle: the same cycle proposes the same ideas.
"""

from __future__ import annotations

import random

from ai_brain.generators.hypothesis_generator import GenerationContext, Hypothesis, make_id
from ai_brain.learning.regimes import RegimeReading
from src.strategy.spec import StrategySpec, family_spec

_WEIGHTS = {
    "bull": {"momentum": 4, "breakout": 3, "mean_reversion": 1},
    "bear": {"momentum": 3, "breakout": 3, "mean_reversion": 1},
    "sideways": {"momentum": 1, "breakout": 1, "mean_reversion": 4},
    "high_vol": {"momentum": 2, "breakout": 2, "mean_reversion": 2},
    "crash": {"momentum": 2, "breakout": 2, "mean_reversion": 1},
}


def _risk(rng: random.Random) -> dict[str, object]:
    stop = rng.choice([0.0, 1.5, 2.0, 2.5, 3.0, 4.0])
    genes: dict[str, object] = {"stop_atr": stop, "position_fraction": rng.choice([0.25, 0.5, 1.0])}
    if stop and rng.random() < 0.5:
        genes["take_profit_atr"] = round(stop * rng.uniform(1.2, 3.5), 2)
    if stop and rng.random() < 0.3:
        genes["trailing"] = [{"trigger_r": 1.0, "lock_r": 0.0}, {"trigger_r": 2.0, "trail_atr": round(stop, 2)}]
    if rng.random() < 0.3:
        genes["max_hold_bars"] = rng.choice([24, 48, 96, 168])
    return genes


def _params(rng: random.Random, family: str, short: bool) -> dict[str, object]:
    if family == "momentum":
        fast = rng.randint(3, 40)
        return {"fast": fast, "slow": fast + rng.randint(3, 120), "ma": rng.choice(["ema", "sma"]),
                "adx_min": rng.choice([0.0, 0.0, 18.0, 22.0, 25.0]), "macd": rng.random() < 0.25,
                "volume_ratio_min": rng.choice([0.0, 0.0, 1.2]), "short": short}
    if family == "mean_reversion":
        return {"rsi_period": rng.randint(3, 21), "oversold": round(rng.uniform(15, 38), 1),
                "overbought": round(rng.uniform(62, 85), 1), "exit_rsi": round(rng.uniform(45, 60), 1),
                "bb_period": rng.randint(10, 50), "bb_mult": round(rng.uniform(1.5, 3.0), 2),
                "use_bb": rng.random() < 0.5, "short": short}
    if family == "breakout":
        channel = rng.randint(8, 120)
        return {"channel": channel, "exit_channel": max(2, int(channel * rng.uniform(0.25, 0.8))), "short": short}
    entry = round(rng.uniform(0.00005, 0.0004), 6)
    return {"entry_rate": entry, "exit_rate": round(entry * rng.uniform(-0.5, 0.5), 6), "period": rng.randint(1, 9)}


def _reasoning(family: str, p: dict[str, object], symbol: str, regime: RegimeReading | None) -> str:
    where = f" {symbol} regime: {regime.describe()}." if regime else ""
    side = " both sides" if p.get("short") else " long only"
    if family == "momentum":
        return (f"Trend following:{side}, {p['ma']} {p['fast']}/{p['slow']} crossover"
                f"{', ADX above ' + str(p['adx_min']) if p['adx_min'] else ''}. "
                f"Crossovers capture sustained moves.{where}")
    if family == "mean_reversion":
        return (f"Mean reversion:{side}, RSI({p['rsi_period']}) below {p['oversold']} / above {p['overbought']}, "
                f"exit at {p['exit_rsi']}. Stretched prices in a range tend to snap back.{where}")
    if family == "breakout":
        return (f"Channel breakout:{side}, close beyond the {p['channel']}-bar Donchian channel, exit on the "
                f"{p['exit_channel']}-bar opposite channel. Range escapes often run.{where}")
    return (f"Funding carry: short perp + long spot while smoothed funding exceeds {p['entry_rate']:.4%} per 8h; "
            f"the hedge removes price risk and the funding is earned.{where}")


class TemplateSource:
    """Random, regime-weighted draws from the built-in families."""

    name = "templates"

    def __init__(self, per_cycle: int, seed: int = 7) -> None:
        self.per_cycle = per_cycle
        self.seed = seed

    def family_weights(self, ctx: GenerationContext, symbol: str) -> dict[str, int]:
        reading = ctx.regimes.get(symbol)
        weights = dict(_WEIGHTS.get(reading.label if reading else "sideways", _WEIGHTS["sideways"]))
        fund = ctx.funding.get(symbol)
        if fund is not None and len(fund.rate) >= 9 and float(fund.rate[-9:].mean()) > 0.00005:
            weights["funding_carry"] = 2
        return weights

    def draw(self, rng: random.Random, ctx: GenerationContext, symbol: str) -> Hypothesis | None:
        weights = self.family_weights(ctx, symbol)
        family = rng.choices(list(weights), weights=list(weights.values()))[0]
        params = _params(rng, family, short=rng.random() < 0.4)
        try:
            spec = family_spec(family, symbols=[symbol], timeframe=ctx.timeframe, **params, **_risk(rng))
        except ValueError:  # a draw outside the family's own constraints: just draw again
            return None
        reading = ctx.regimes.get(symbol)
        spec = _with_id(spec)
        return Hypothesis(spec=spec, generator=self.name, reasoning=_reasoning(family, params, symbol, reading),
                          regime=reading.label if reading else None)

    async def propose(self, ctx: GenerationContext) -> list[Hypothesis]:
        rng = random.Random(hash((self.seed, ctx.cycle, ctx.decision_ts_ms)) & 0xFFFFFFFF)
        out: list[Hypothesis] = []
        symbols = ctx.symbols
        attempts = 0
        while symbols and len(out) < self.per_cycle and attempts < self.per_cycle * 5:
            attempts += 1
            h = self.draw(rng, ctx, symbols[len(out) % len(symbols)])
            if h is not None:
                out.append(h)
        return out


def _with_id(spec: StrategySpec) -> StrategySpec:
    data = spec.model_dump()
    data["id"] = make_id(spec, "templates")
    data["name"] = f"{spec.type} {spec.symbols[0]} {spec.timeframe} #{data['id'][-6:]}"
    return StrategySpec.model_validate(data)
