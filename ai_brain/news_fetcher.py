"""News headlines from RSS/Atom or JSON feeds: fetched with aiohttp, de-duplicated, cached on disk.

The public face of :mod:`ai_brain.intelligence.news_fetcher`, where the code lives:
this name is where a reader of the architecture looks for it. Code inside ``ai_brain``
imports the real module, never this face.
"""

from ai_brain.intelligence.news_fetcher import (
    MAX_FEED_BYTES,
    NewsFetcher,
    NewsItem,
    parse_feed,
)

__all__ = [
    "MAX_FEED_BYTES",
    "NewsFetcher",
    "NewsItem",
    "parse_feed",
]
