"""Market commentary and risk warnings for reports: rules always, LLM prose when available.

The warnings are computed by rules from validated figures (regime, volatility percentile,
drawdown, funding) so they are never a model's invention; the LLM, when it is on and within
budget, only writes the readable paragraph around them. Any LLM failure falls back to the
rule-based text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from ai_brain.learning.regimes import RegimeReading
from ai_brain.llm.client import LLMError, LLMGateway

FUNDING_EXTREME = 0.0005  # per 8h: 0.05%, about 55% a year


@dataclass(frozen=True)
class Commentary:
    text: str
    warnings: list[str] = field(default_factory=list)
    method: str = "rules"


class _Prose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    commentary: str = Field(max_length=1200)


def risk_warnings(regimes: dict[str, RegimeReading], funding: dict[str, float]) -> list[str]:
    """Rule-based warnings from the figures themselves."""
    out = []
    for sym, r in regimes.items():
        if r.label == "crash":
            out.append(f"{sym}: crash regime ({r.drawdown:.0%} below the recent peak) — expect gaps and slippage")
        elif r.label == "high_vol":
            out.append(f"{sym}: volatility in its top {100 - r.vol_percentile * 100:.0f}% — stops get hit more often")
        if r.drawdown >= 0.15 and r.label != "crash":
            out.append(f"{sym}: {r.drawdown:.0%} below its recent peak")
    for sym, rate in funding.items():
        if abs(rate) >= FUNDING_EXTREME:
            side = "longs pay shorts" if rate > 0 else "shorts pay longs"
            out.append(f"{sym}: funding {rate:.3%} per 8h ({side}) — crowded positioning")
    return out


def rules_text(regimes: dict[str, RegimeReading]) -> str:
    if not regimes:
        return "No market read yet."
    return " ".join(f"{sym} is {r.describe()}." for sym, r in regimes.items())


class MarketAnalyst:
    """Builds a :class:`Commentary`; ``gateway`` None means rules only."""

    def __init__(self, gateway: LLMGateway | None = None) -> None:
        self.gateway = gateway

    async def commentary(self, regimes: dict[str, RegimeReading], funding: dict[str, float],
                         sentiment: str = "") -> Commentary:
        warnings = risk_warnings(regimes, funding)
        base = rules_text(regimes) + (f" News: {sentiment}." if sentiment else "")
        if self.gateway is None:
            return Commentary(base, warnings)
        prompt = ("Write 3-4 sentences of market commentary for a trader, using only these facts:\n" + base +
                  "\nWarnings:\n" + "\n".join(f"- {w}" for w in warnings))
        try:
            answer = await self.gateway.generate("You write short, factual market notes.", prompt, _Prose, 0.2)
        except LLMError:
            return Commentary(base, warnings)
        parsed = answer.parsed
        assert isinstance(parsed, _Prose)
        return Commentary(parsed.commentary, warnings, "llm")
