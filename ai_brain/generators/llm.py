"""The LLM hypothesis source: the model proposes, our code parses, range-checks and fact-checks.

The prompt is built only from validated, point-in-time data (candles that closed before the
decision time): regime per symbol, ATR and volatility, funding, recent evaluator verdicts,
similar past patterns, a news summary. The answer must be a :class:`LLMProposal` (structured
output from the strategy spec's own models). A proposal is rejected — with the reason logged and
counted, never "fixed" into a different idea — when its stop or take-profit is outside real
ATR-based ranges, when it names a symbol it was not given, or when the figures it cites do not
match the data it was shown (hallucination).
"""

from __future__ import annotations

import logging
import random
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ai_brain.generators.dedup import signature
from ai_brain.generators.hypothesis_generator import GenerationContext, Hypothesis, make_id
from ai_brain.llm.client import LLMError, LLMGateway
from ai_brain.llm.governance import check_cited, check_reasoning_numbers
from src.config.brain import LLMConfig
from src.core.timeframes import fmt_ms
from src.strategy.spec import RiskGenes, RuleForm, StrategySpec

log = logging.getLogger(__name__)

SYSTEM = (
    "You are a quantitative crypto researcher. Propose ONE rule-based trading strategy as JSON matching the "
    "schema. Use only the indicators the schema allows. Every figure you cite in cited_figures must be copied "
    "exactly from the DATA section by its name; do not invent prices or statistics. Always set a stop "
    "(risk.stop_atr > 0). Keep the reasoning under 120 words."
)


class CitedFigure(BaseModel):
    """A number from the data snapshot the reasoning relies on, by its exact name."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=80)
    value: float


class LLMProposal(BaseModel):
    """The structured answer: the strategy spec's rule form and risk genes plus the reasoning."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    type: Literal["momentum", "mean_reversion", "breakout", "funding_carry", "rule"]
    symbol: str = Field(min_length=1, max_length=40)
    reasoning: str = Field(min_length=1, max_length=3000)
    cited_figures: list[CitedFigure] = Field(default_factory=list, max_length=16)
    rules: RuleForm
    risk: RiskGenes


def snapshot(ctx: GenerationContext) -> dict[str, float]:
    """Named figures per symbol as of the decision time (the only numbers the model may cite)."""
    out: dict[str, float] = {}
    for sym, c in ctx.candles.items():
        close = c.close
        out[f"{sym} last_close"] = round(float(close[-1]), 6)
        if len(close) > 168:
            out[f"{sym} return_24h_pct"] = round(float(close[-1] / close[-25] - 1) * 100, 3)
            out[f"{sym} return_7d_pct"] = round(float(close[-1] / close[-169] - 1) * 100, 3)
        reading = ctx.regimes.get(sym)
        if reading is not None:
            out[f"{sym} atr_pct"] = round(reading.atr_pct * 100, 4)
            out[f"{sym} volatility_percentile"] = round(reading.vol_percentile * 100, 1)
            out[f"{sym} drawdown_pct"] = round(reading.drawdown * 100, 2)
        fund = ctx.funding.get(sym)
        if fund is not None and len(fund.rate):
            known = fund.rate[fund.ts < ctx.decision_ts_ms]
            if len(known):
                out[f"{sym} funding_rate_pct"] = round(float(known[-1]) * 100, 5)
                out[f"{sym} funding_mean_9_pct"] = round(float(np.mean(known[-9:])) * 100, 5)
    return out


def build_prompt(ctx: GenerationContext, crazy: bool) -> tuple[str, dict[str, float]]:
    """The user prompt and the snapshot it shows (deterministic for the same context)."""
    figures = snapshot(ctx)
    lines = [f"Decision time: {fmt_ms(ctx.decision_ts_ms)} UTC. Timeframe: {ctx.timeframe}.",
             f"Symbols: {', '.join(ctx.symbols)}.", "DATA:"]
    lines += [f"- {k}: {v}" for k, v in figures.items()]
    for sym, reading in ctx.regimes.items():
        lines.append(f"- {sym} regime: {reading.label} (confidence {reading.confidence})")
    for sym, text in ctx.similar_patterns.items():
        lines.append(f"- {sym} similar past setups: {text}")
    if ctx.recent_verdicts:
        lines.append("Recent evaluator verdicts (learn from what failed):")
        lines += [f"- {v}" for v in ctx.recent_verdicts[-8:]]
    if ctx.news_summary:
        lines.append(f"News summary: {ctx.news_summary}")
    lines.append("Task: " + ("propose an UNUSUAL idea: combine indicators people rarely combine, still with a stop."
                             if crazy else "propose the strategy most likely to survive out-of-sample testing."))
    return "\n".join(lines), figures


def _own_numbers(p: LLMProposal) -> list[float]:
    """Numbers the proposal itself defines (periods, thresholds, genes) may appear in its reasoning."""
    _key, values = signature(StrategySpec(id="x", name="x", rules=p.rules, risk=p.risk))
    return list(values)


def review(p: LLMProposal, ctx: GenerationContext, figures: dict[str, float], cfg: LLMConfig) -> list[str]:
    """Every reason to reject ``p`` (empty = acceptable)."""
    problems: list[str] = []
    if p.symbol not in ctx.candles:
        return [f"symbol {p.symbol!r} was not offered (offered: {', '.join(ctx.symbols)})"]
    atr_pct = figures.get(f"{p.symbol} atr_pct")
    if p.risk.stop_atr <= 0:
        problems.append("no stop-loss (risk.stop_atr is 0)")
    elif atr_pct is not None:
        stop_pct = p.risk.stop_atr * atr_pct
        if not cfg.min_stop_pct <= stop_pct <= cfg.max_stop_pct:
            problems.append(f"stop of {p.risk.stop_atr} ATR = {stop_pct:.2f}% of price is outside "
                            f"[{cfg.min_stop_pct}%, {cfg.max_stop_pct}%] at the current ATR of {atr_pct:.3f}%")
        tp_pct = p.risk.take_profit_atr * atr_pct
        if p.risk.take_profit_atr and not stop_pct * 0.5 <= tp_pct <= cfg.max_take_profit_pct:
            problems.append(f"take-profit of {p.risk.take_profit_atr} ATR = {tp_pct:.2f}% is outside "
                            f"[{stop_pct * 0.5:.2f}%, {cfg.max_take_profit_pct}%]")
    cited = {f.name: f.value for f in p.cited_figures}
    problems += check_cited(cited, figures, cfg.hallucination_tolerance)
    problems += check_reasoning_numbers(p.reasoning, figures, _own_numbers(p), cfg.hallucination_tolerance)
    return problems


def to_spec(p: LLMProposal, timeframe: str) -> StrategySpec:
    spec = StrategySpec(id="llm", name=p.name[:200], type=p.type, symbols=[p.symbol], timeframe=timeframe,
                        parameters={"proposed_by": "llm"}, rules=p.rules, risk=p.risk)
    sid = make_id(spec, "llm")
    return spec.model_copy(update={"id": sid})


class LLMSource:
    """Asks the gateway for ``proposals_per_cycle`` ideas; counts every rejection by reason."""

    name = "llm"

    def __init__(self, gateway: LLMGateway, cfg: LLMConfig) -> None:
        self.gateway, self.cfg = gateway, cfg
        self.rejected: dict[str, int] = {}
        self.accepted = 0
        self.last_rejections: list[str] = []

    def _reject(self, kind: str, reason: str) -> None:
        self.rejected[kind] = self.rejected.get(kind, 0) + 1
        self.last_rejections = [*self.last_rejections, reason][-10:]
        log.warning("LLM proposal rejected (%s): %s", kind, reason)

    async def propose(self, ctx: GenerationContext) -> list[Hypothesis]:
        rng = random.Random(ctx.seed * 7919 + ctx.cycle)
        out: list[Hypothesis] = []
        for i in range(self.cfg.proposals_per_cycle):
            crazy = rng.random() < self.cfg.crazy_share
            hyp = await self._one(ctx, crazy, i)
            if hyp is not None:
                out.append(hyp)
        return out

    async def _one(self, ctx: GenerationContext, crazy: bool, index: int) -> Hypothesis | None:
        prompt, figures = build_prompt(ctx, crazy)
        prompt += f"\nProposal number {index + 1}."
        temperature = self.cfg.crazy_temperature if crazy else self.cfg.temperature
        try:
            answer = await self.gateway.generate(SYSTEM, prompt, LLMProposal, temperature)
        except LLMError as exc:
            self._reject(exc.kind, str(exc))
            return None
        proposal = answer.parsed
        assert isinstance(proposal, LLMProposal)
        problems = review(proposal, ctx, figures, self.cfg)
        if problems:
            kind = "hallucination" if any("matches no figure" in p or "the data says" in p or "not in the data" in p
                                          for p in problems) else "out_of_range"
            self._reject(kind, f"{proposal.name}: " + "; ".join(problems))
            return None
        try:
            spec = to_spec(proposal, ctx.timeframe)
        except (ValidationError, ValueError) as exc:
            self._reject("schema", f"{proposal.name}: {exc}")
            return None
        self.accepted += 1
        reading = ctx.regimes.get(proposal.symbol)
        label = "llm (crazy idea)" if crazy else "llm"
        return Hypothesis(spec=spec, generator=label, reasoning=proposal.reasoning, prompt_hash=answer.key,
                          regime=reading.label if reading else None)

    def describe(self) -> dict[str, object]:
        return {"accepted": self.accepted, "rejected": dict(self.rejected), "last_rejections": self.last_rejections,
                **self.gateway.describe()}

