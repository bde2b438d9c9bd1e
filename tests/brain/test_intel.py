"""Optional enrichment against a loopback feed server: news, sentiment fallback, on-chain alerts, warnings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from ai_brain.intelligence.news_fetcher import NewsFetcher
from ai_brain.intelligence.onchain_monitor import OnchainMonitor
from ai_brain.intelligence.sentiment_analyzer import SentimentAnalyzer, lexicon_score
from ai_brain.learning.regimes import classify_at
from ai_brain.llm.llm_analyzer import MarketAnalyst, risk_warnings
from src.core.events import Alert
from src.core.timeframes import parse_iso_ms
from tests.brain.llm_builders import gateway
from tests.fakes.fake_gemini import FakeGemini, Reply
from tests.fakes.loopback import serve

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>
<item><title>Bitcoin ETF inflows surge to a record</title><link>https://n/1</link>
<pubDate>Mon, 03 Jun 2024 10:00:00 GMT</pubDate></item>
<item><title>Exchange hacked, withdrawals halted</title><link>https://n/2</link>
<pubDate>Tue, 04 Jun 2024 10:00:00 GMT</pubDate></item></channel></rss>"""
ATOM = b"""<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>Bitcoin ETF inflows SURGE to a record!</title>
<link href="https://m/1"/><updated>2024-06-03T11:00:00Z</updated></entry></feed>"""
JSON_FEED = {"items": [{"title": "Regulator sues token issuer", "url": "https://j/1",
                        "published": "2024-06-05T00:00:00Z"}]}
TRANSFERS = [{"hash": "0xabc", "amount_usd": 25_000_000, "symbol": "BTC", "from": "whale", "to": "exchange"},
             {"hash": "0xdef", "amount_usd": 500, "symbol": "BTC"}, {"bad": True}]


@pytest.fixture
async def feeds() -> AsyncIterator[str]:
    routes = {"/rss": web.Response(body=RSS, content_type="application/rss+xml"),
              "/atom": web.Response(body=ATOM, content_type="application/atom+xml"),
              "/json": web.json_response(JSON_FEED), "/transfers": web.json_response(TRANSFERS),
              "/broken": web.Response(body=b"<html>oops", content_type="text/html"), "/down": web.Response(status=503)}

    async def reply(request: web.Request) -> web.Response:
        canned = routes[request.path]
        return web.Response(body=canned.body, status=canned.status, content_type=canned.content_type)

    app = web.Application()
    app.router.add_get("/{tail:.*}", reply)
    runner, base_url, _port = await serve(app)
    yield base_url
    await runner.cleanup()


async def test_news_is_fetched_deduplicated_cached_and_point_in_time(feeds: str, tmp_path) -> None:
    urls = tuple(f"{feeds}/{p}" for p in ("rss", "atom", "json", "broken", "down"))
    news = NewsFetcher(urls, tmp_path / "news.json", tmp_path / "q")

    new = await news.refresh()
    again = await news.refresh()

    assert new == 3, 'the Atom copy of the ETF headline is a duplicate'
    assert again == 0, 'the Atom copy of the ETF headline is a duplicate'
    assert set(news.errors) == {f"{feeds}/broken", f"{feeds}/down"}
    assert news.headlines(parse_iso_ms("2024-06-04T12:00:00Z")) == ["Exchange hacked, withdrawals halted",
                                                                     "Bitcoin ETF inflows surge to a record"]
    restored = NewsFetcher(urls, tmp_path / "news.json", tmp_path / "q")
    assert len(restored.items) == 3


async def test_sentiment_falls_back_to_the_lexicon_when_the_llm_fails(tmp_path) -> None:
    fake = FakeGemini()
    await fake.start()
    fake.queue(Reply(text="not json"), Reply(text=json.dumps({"score": 0.6, "summary": "upbeat"})))
    gw, _cfg = gateway(tmp_path, fake.base_url)
    analyzer = SentimentAnalyzer(gw)
    try:
        first = await analyzer.analyze(["Bitcoin rallies to a record high", "ETF inflows surge"])
        second = await analyzer.analyze(["Exchange hacked", "Token crashes"])
    finally:
        await gw.close()
        await fake.close()

    assert first.method == "lexicon"
    assert first.score == 1.0
    assert analyzer.fallbacks == 1
    assert second.method == "llm"
    assert second.score == 0.6
    assert lexicon_score(["Exchange hacked, token crashes after lawsuit"]) == -1.0


async def test_large_transfers_raise_one_alert_each(feeds: str) -> None:
    published: list = []
    monitor = OnchainMonitor(f"{feeds}/transfers", 10_000_000, published.append, lambda: 1)
    async with aiohttp.ClientSession() as session:
        assert await monitor.poll(session) == 1
        assert await monitor.poll(session) == 0
        broken = OnchainMonitor(f"{feeds}/broken", 1, published.append, lambda: 1)
        assert await broken.poll(session) == 0

    assert len(published) == 1
    assert isinstance(published[0], Alert)
    assert "25,000,000 USD of BTC" in published[0].text
    assert broken.errors == 1


async def test_warnings_come_from_the_figures_not_the_model(btc_1h) -> None:
    crash = {"BTC/USDT": classify_at(btc_1h, parse_iso_ms("2020-03-13T02:00:00Z"), "BTC/USDT")}

    note = await MarketAnalyst(None).commentary(crash, {"BTC/USDT": 0.001})

    assert note.method == "rules"
    assert "BTC/USDT is crash" in note.text
    assert any("crash regime" in w for w in note.warnings)
    assert any("funding 0.100%" in w for w in note.warnings)
    assert risk_warnings({}, {"ETH/USDT": 0.0001}) == []
