"""The optional enrichment component: news + sentiment, on-chain transfers, market commentary.

Each part is switched on separately in ``brain.intel`` and fails soft. The brain cycle reads
:meth:`IntelComponent.news_summary` (point in time) for its prompts; reports may call
``ctx.services["market_analyst"].commentary(...)``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from ai_brain.intelligence.news_fetcher import NewsFetcher
from ai_brain.intelligence.onchain_monitor import OnchainMonitor
from ai_brain.intelligence.sentiment_analyzer import Sentiment, SentimentAnalyzer
from src.runtime.context import AppContext

log = logging.getLogger(__name__)


class IntelComponent:
    """Refreshes news and polls on-chain data on a timer (``name = "intel"``)."""

    name = "intel"

    def __init__(self, ctx: AppContext, news: NewsFetcher | None, sentiment: SentimentAnalyzer,
                 onchain: OnchainMonitor | None) -> None:
        self.ctx, self.news, self.sentiment, self.onchain = ctx, news, sentiment, onchain
        self.last_sentiment: Sentiment | None = None
        ctx.status.register(self.name, self.describe)

    async def run(self) -> None:
        period_s = self.ctx.config.brain.intel.news_refresh_minutes * 60
        async with aiohttp.ClientSession() as session:
            while True:
                await self.refresh_once(session)
                await asyncio.sleep(period_s)

    async def refresh_once(self, session: aiohttp.ClientSession) -> None:
        if self.news is not None:
            await self.news.refresh()
            self.last_sentiment = await self.sentiment.analyze(self.news.headlines())
        if self.onchain is not None:
            await self.onchain.poll(session)

    def news_summary(self, before_ms: int) -> str:
        """Headlines known before ``before_ms`` and their sentiment, for a point-in-time prompt."""
        if self.news is None:
            return ""
        heads = self.news.headlines(before_ms, 5)
        if not heads:
            return ""
        mood = f" Sentiment: {self.last_sentiment.summary}." if self.last_sentiment else ""
        return "; ".join(heads) + "." + mood

    def describe(self) -> dict[str, Any]:
        return {"news": self.news.describe() if self.news else "off",
                "sentiment": vars(self.last_sentiment) if self.last_sentiment else None,
                "onchain": {"seen": len(self.onchain.seen), "errors": self.onchain.errors} if self.onchain else "off"}
