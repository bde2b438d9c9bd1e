"""Hypotheses: candidate strategies, each with its source and its reasoning in words.

Several sources sit behind one small interface (:class:`Source`): built-in family templates,
the genetic search, the LLM. :class:`HypothesisGenerator` asks each enabled source, contains
any source's failure (a broken LLM never stops the offline sources), and drops near-duplicates
— against each other and against every strategy already on file — before anything reaches the
evaluator. Context is point-in-time: only candles that closed before ``decision_ts_ms``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ai_brain.generators.dedup import Deduplicator, content_hash
from ai_brain.learning.regimes import RegimeReading
from src.strategy.data import Candles, Funding
from src.strategy.spec import StrategySpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hypothesis:
    """One candidate strategy and why it might work."""

    spec: StrategySpec
    generator: str
    reasoning: str
    parents: tuple[str, ...] = ()
    prompt_hash: str | None = None
    regime: str | None = None

    @property
    def id(self) -> str:
        return f"hyp-{content_hash(self.spec)}"


@dataclass
class GenerationContext:
    """What the sources may look at: validated candles up to the decision time, and what we learned."""

    decision_ts_ms: int
    timeframe: str
    candles: dict[str, Candles]
    funding: dict[str, Funding | None] = field(default_factory=dict)
    regimes: dict[str, RegimeReading] = field(default_factory=dict)
    recent_verdicts: list[str] = field(default_factory=list)
    similar_patterns: dict[str, str] = field(default_factory=dict)
    news_summary: str = ""
    cycle: int = 0
    seed: int = 7

    @property
    def symbols(self) -> list[str]:
        return list(self.candles)


class Source(Protocol):
    """A hypothesis source; ``name`` appears in every hypothesis it makes."""

    name: str

    async def propose(self, ctx: GenerationContext) -> list[Hypothesis]: ...


@dataclass
class SourceStats:
    proposed: int = 0
    duplicates: int = 0
    failures: int = 0
    last_error: str = ""


def make_id(spec: StrategySpec, _generator: str) -> str:
    """A readable, unique id: family, symbol, short content hash."""
    sym = spec.symbols[0].replace("/", "").replace(":", "")
    return f"{spec.type}-{sym}-{content_hash(spec)}"[:80]


class HypothesisGenerator:
    """Collects hypotheses from every source, fail-soft, without near-duplicates."""

    def __init__(self, sources: Sequence[Source], dedup: Deduplicator, timeout_s: float = 120.0) -> None:
        self.sources = list(sources)
        self.dedup = dedup
        self.timeout_s = timeout_s
        self.stats: dict[str, SourceStats] = {s.name: SourceStats() for s in self.sources}

    async def generate(self, ctx: GenerationContext) -> list[Hypothesis]:
        """Ask every source concurrently; a source that fails or times out contributes nothing."""
        results = await asyncio.gather(*(self._ask(s, ctx) for s in self.sources))
        out: list[Hypothesis] = []
        for source, hyps in zip(self.sources, results, strict=True):
            st = self.stats[source.name]
            for h in hyps:
                st.proposed += 1
                if self.dedup.admit(h.spec):
                    out.append(h)
                else:
                    st.duplicates += 1
        return out

    async def _ask(self, source: Source, ctx: GenerationContext) -> list[Hypothesis]:
        try:
            return await asyncio.wait_for(source.propose(ctx), self.timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one broken source must not stop the others
            st = self.stats[source.name]
            st.failures += 1
            st.last_error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("hypothesis source %s failed: %s", source.name, st.last_error)
            return []

    def describe(self) -> dict[str, dict[str, object]]:
        return {name: vars(st).copy() for name, st in self.stats.items()} | {
            "dedup": {"dropped": self.dedup.dropped}}
