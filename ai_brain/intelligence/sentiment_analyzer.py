"""Headline sentiment in [-1, 1]: the LLM when available, a transparent lexicon otherwise.

The lexicon is the fallback and the floor: any LLM failure (budget, breaker, garbage) falls
back to it, so the sentiment line in a prompt or report never disappears and never blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from ai_brain.llm.client import LLMError, LLMGateway

POSITIVE = frozenset({
    "surge", "surges", "rally", "rallies", "soar", "soars", "gain", "gains", "bull", "bullish", "record", "high",
    "approval", "approved", "adopt", "adoption", "inflow", "inflows", "upgrade", "breakout", "rebound", "jump",
    "jumps", "climb", "climbs", "partnership", "etf",
})
NEGATIVE = frozenset({
    "crash", "crashes", "plunge", "plunges", "drop", "drops", "fall", "falls", "bear", "bearish", "hack", "hacked",
    "exploit", "ban", "bans", "lawsuit", "sue", "sues", "fraud", "outflow", "outflows", "liquidation",
    "liquidations", "selloff", "sell-off", "slump", "fear", "collapse", "bankruptcy", "investigation", "low",
})
_WORD = re.compile(r"[a-z][a-z\-]+")


@dataclass(frozen=True)
class Sentiment:
    score: float
    method: str
    summary: str


def lexicon_score(headlines: list[str]) -> float:
    """(positive − negative) / matched words over all headlines; 0 when nothing matched."""
    pos = neg = 0
    for line in headlines:
        words = _WORD.findall(line.lower())
        pos += sum(w in POSITIVE for w in words)
        neg += sum(w in NEGATIVE for w in words)
    return 0.0 if pos + neg == 0 else (pos - neg) / (pos + neg)


class SentimentAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: float = Field(ge=-1.0, le=1.0)
    summary: str = Field(max_length=400)


class SentimentAnalyzer:
    """Scores headlines; ``gateway`` None means lexicon only."""

    def __init__(self, gateway: LLMGateway | None = None) -> None:
        self.gateway = gateway
        self.fallbacks = 0

    async def analyze(self, headlines: list[str]) -> Sentiment:
        if not headlines:
            return Sentiment(0.0, "none", "no headlines")
        if self.gateway is not None:
            prompt = "Rate the crypto market sentiment of these headlines (-1..1):\n" + "\n".join(
                f"- {h}" for h in headlines[:20])
            try:
                answer = await self.gateway.generate("You rate news sentiment.", prompt, SentimentAnswer, 0.0)
                parsed = answer.parsed
                assert isinstance(parsed, SentimentAnswer)
                return Sentiment(parsed.score, "llm", parsed.summary)
            except LLMError:
                self.fallbacks += 1
        score = lexicon_score(headlines)
        mood = "positive" if score > 0.2 else "negative" if score < -0.2 else "mixed"
        return Sentiment(score, "lexicon", f"{mood} headlines ({len(headlines)} read, lexicon score {score:+.2f})")
