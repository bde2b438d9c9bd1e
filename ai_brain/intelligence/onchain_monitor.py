"""Large on-chain transfers from a configurable public JSON API, raised as information alerts.

Off by default. The API is expected to answer a JSON list (or ``{"transactions": [...]}``) of
objects with ``hash``, ``amount_usd`` and optionally ``symbol``, ``from``, ``to``, ``timestamp``.
Anything else is counted as an error and skipped; each transfer is alerted once (by hash).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from src.core.events import Alert, Event

log = logging.getLogger(__name__)


def large_transfers(payload: Any, min_value_usd: float) -> list[dict[str, Any]]:
    """The transfers at or above ``min_value_usd`` from an API answer (bad rows skipped)."""
    rows = payload.get("transactions", []) if isinstance(payload, dict) else payload
    out = []
    for row in rows if isinstance(rows, list) else []:
        try:
            value = float(row["amount_usd"])
            tx = str(row["hash"])
        except (KeyError, TypeError, ValueError):
            continue
        if value >= min_value_usd:
            out.append({**row, "amount_usd": value, "hash": tx})
    return out


class OnchainMonitor:
    """Polls ``url`` once per :meth:`poll`; publishes one alert per new large transfer."""

    def __init__(self, url: str, min_value_usd: float, publish: Callable[[Event], None],
                 now_ms: Callable[[], int], timeout_s: float = 10.0) -> None:
        self.url, self.min_value_usd, self._publish, self._now_ms = url, min_value_usd, publish, now_ms
        self.timeout_s = timeout_s
        self.seen: set[str] = set()
        self.errors = 0

    async def poll(self, session: aiohttp.ClientSession) -> int:
        try:
            async with session.get(self.url, timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as resp:
                resp.raise_for_status()
                payload = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.errors += 1
            log.warning("on-chain source failed: %s", exc)
            return 0
        fresh = [t for t in large_transfers(payload, self.min_value_usd) if t["hash"] not in self.seen]
        for t in fresh:
            self.seen.add(t["hash"])
            text = (f"{t['amount_usd']:,.0f} USD of {t.get('symbol', '?')} moved "
                    f"{t.get('from', '?')} → {t.get('to', '?')} (tx {t['hash'][:16]})")
            self._publish(Alert("info", "Large on-chain transfer", text, key=f"onchain:{t['hash']}",
                                ts_ms=self._now_ms()))
        return len(fresh)
