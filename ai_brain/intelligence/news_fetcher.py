"""News headlines from RSS/Atom or JSON feeds: fetched with aiohttp, de-duplicated, cached on disk.

Optional and fail-soft: a source that is down, slow, too large or not a feed is logged and
counted, and the others still count. Items are kept only with their title, link, source and
publication time (UTC ms); the cache (``state/news_cache.json``) is written atomically, so the
prompt's news summary survives restarts and a feed outage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from src.state.store import read_model, write_model

log = logging.getLogger(__name__)
MAX_FEED_BYTES = 2_000_000


class NewsItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    link: str = ""
    source: str
    published_ms: int = 0

    @property
    def key(self) -> str:
        norm = re.sub(r"\W+", " ", self.title.lower()).strip()
        return hashlib.sha256(norm.encode()).hexdigest()[:16]


class _Cache(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[NewsItem] = Field(default_factory=list)


def _ms(text: str | None) -> int:
    if not text:
        return 0
    try:
        return int(parsedate_to_datetime(text).timestamp() * 1000)
    except (TypeError, ValueError):
        pass
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_feed(body: bytes, source: str) -> list[NewsItem]:
    """RSS 2.0, Atom, or a JSON list / ``{"items": [...]}`` of objects with a title."""
    text = body.lstrip()
    if text[:1] in (b"[", b"{"):
        data = json.loads(text)
        rows = (data.get("items", data.get("data", [])) if isinstance(data, dict) else data) or []
        return [NewsItem(title=str(r["title"])[:300], link=str(r.get("url") or r.get("link") or ""), source=source,
                         published_ms=_ms(str(r.get("published") or r.get("published_at") or "")))
                for r in rows if isinstance(r, dict) and r.get("title")]
    root = ET.fromstring(body)
    out = []
    for el in root.iter():
        if _local(el.tag) not in ("item", "entry"):
            continue
        fields = {_local(c.tag): c for c in el}
        title = (fields["title"].text or "").strip() if "title" in fields else ""
        link_el = fields.get("link")
        link = (link_el.text or link_el.get("href") or "") if link_el is not None else ""
        when = next((fields[k].text for k in ("pubDate", "published", "updated") if k in fields), None)
        if title:
            out.append(NewsItem(title=title[:300], link=link.strip(), source=source, published_ms=_ms(when)))
    return out


class NewsFetcher:
    """Fetches every configured source; ``items`` holds the de-duplicated, newest-first cache."""

    def __init__(self, sources: tuple[str, ...], cache_path: Path, quarantine_dir: Path, timeout_s: float = 10.0,
                 max_items: int = 50) -> None:
        self.sources, self.cache_path, self.timeout_s, self.max_items = sources, cache_path, timeout_s, max_items
        cached = read_model(cache_path, _Cache, quarantine_dir)
        self.items: list[NewsItem] = cached.items if cached else []
        self.errors: dict[str, str] = {}

    async def refresh(self) -> int:
        """Fetch all sources once; returns the number of new items."""
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        fresh: list[NewsItem] = []
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for url in self.sources:
                fresh += await self._fetch(session, url)
        return self._merge(fresh)

    async def _fetch(self, session: aiohttp.ClientSession, url: str) -> list[NewsItem]:
        try:
            async with session.get(url) as resp:
                resp.raise_for_status()
                body = await resp.content.read(MAX_FEED_BYTES + 1)
            if len(body) > MAX_FEED_BYTES:
                raise ValueError(f"feed larger than {MAX_FEED_BYTES} bytes")
            items = parse_feed(body, url)
            self.errors.pop(url, None)
            return items
        except (aiohttp.ClientError, TimeoutError, ValueError, ET.ParseError, KeyError) as exc:
            self.errors[url] = f"{type(exc).__name__}: {exc}"[:200]
            log.warning("news source %s failed: %s", url, self.errors[url])
            return []

    def _merge(self, fresh: list[NewsItem]) -> int:
        known = {i.key for i in self.items}
        new = []
        for item in fresh:
            if item.key not in known:
                known.add(item.key)
                new.append(item)
        self.items = sorted(self.items + new, key=lambda i: -i.published_ms)[: self.max_items]
        write_model(self.cache_path, _Cache(items=self.items))
        return len(new)

    def headlines(self, before_ms: int | None = None, n: int = 10) -> list[str]:
        """Titles published before ``before_ms`` (point in time), newest first."""
        return [i.title for i in self.items if before_ms is None or 0 < i.published_ms < before_ms][:n]

    def describe(self) -> dict[str, Any]:
        return {"items": len(self.items), "sources": len(self.sources), "errors": dict(self.errors)}
