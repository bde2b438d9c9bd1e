"""One shared :class:`ExchangeClient` per exchange id, built from config, closed at shutdown.

Every component that talks to an exchange is handed the one :class:`ExchangeClients` (built by the composition root)
instead of building its own ccxt instance, so they share one HTTP session, one request budget per
exchange and one IP-ban state. The registry is also a component (``name = "exchange"``): its
``run`` only waits, and closes every client when the supervisor cancels it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from src.config.market import ExchangeConfig
from src.config.secrets import Secrets
from src.core.events import Alert
from src.exchange.binance import AlertSink, ExchangeClient, Sleep, build_exchange
from src.exchange.budget import RequestBudget
from src.exchange.retry import RetryPolicy

log = logging.getLogger(__name__)


class ExchangeClients:
    """Lazily created, shared clients keyed by ccxt id (spot ``cfg.id``, futures ``cfg.futures_id``)."""

    name = "exchange"

    def __init__(self, cfg: ExchangeConfig, secrets: Secrets | None = None, *, mode: str = "paper",
                 sleep: Sleep = asyncio.sleep, alert: AlertSink | None = None,
                 now_s: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self._secrets = secrets or Secrets()
        self._mode = mode
        self._sleep = sleep
        self._alert = alert
        self._now_s = now_s
        self._clients: dict[str, ExchangeClient] = {}
        self._warned_spot_only = False

    def get(self, exchange_id: str) -> ExchangeClient:
        """The shared client for ``exchange_id``, created on first use."""
        client = self._clients.get(exchange_id)
        if client is None:
            client = self._build(exchange_id)
            self._clients[exchange_id] = client
        return client

    @property
    def spot(self) -> ExchangeClient:
        return self.get(self.cfg.id)

    @property
    def futures(self) -> ExchangeClient | None:
        """The futures client; None when none is configured or on the spot-only testnet."""
        if not self.cfg.futures_id:
            return None
        if self._testnet and self.cfg.testnet_venue == "spot_testnet":
            if not self._warned_spot_only:
                self._warned_spot_only = True
                log.warning("testnet on the spot testnet: futures are off (ccxt no longer signs the futures "
                            "testnet); set exchange.testnet_venue: demo to trade perps on Binance demo trading")
            return None
        return self.get(self.cfg.futures_id)

    @property
    def _testnet(self) -> bool:
        return self.cfg.sandbox or self._mode == "testnet"

    def _keys(self) -> tuple[str, str]:
        # Paper mode reads public data only: keys are not even handed to ccxt.
        if self._mode == "live":
            return self._secrets.exchange_api_key, self._secrets.exchange_api_secret
        if self._mode == "testnet":
            return self._secrets.testnet_api_key, self._secrets.testnet_api_secret
        return "", ""

    def _build(self, exchange_id: str) -> ExchangeClient:
        cfg = self.cfg
        key, secret = self._keys()
        ex = build_exchange(exchange_id, api_base_url=cfg.api_base_url, timeout_ms=cfg.timeout_ms,
                            sandbox=self._testnet, api_key=key, secret=secret, testnet_venue=cfg.testnet_venue)
        capacity = 60_000.0 / float(ex.rateLimit or 50) * cfg.rate_budget_fraction
        budget = RequestBudget(capacity, name=exchange_id, sleep=self._sleep, now_s=self._now_s)
        policy = RetryPolicy(cfg.retry_attempts, cfg.retry_base_s, cfg.retry_max_s, cfg.max_retry_after_s)
        return ExchangeClient(ex, budget=budget, policy=policy, sleep=self._sleep, alert=self._alert,
                              now_s=self._now_s, default_ban_s=cfg.default_ban_s)

    async def close(self) -> None:
        """Close every client; safe to call twice."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()

    async def run(self) -> None:
        """Hold the clients open while the bot runs; close them when cancelled."""
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()

    def snapshot(self) -> dict[str, Any]:
        return {cid: c.snapshot() for cid, c in self._clients.items()}


def build_exchange_clients(ctx: Any) -> ExchangeClients:
    """The one registry of exchange clients for this process (the composition root builds it once)."""
    def alert(a: Alert) -> None:
        ctx.bus.publish(a)

    return ExchangeClients(ctx.config.exchange, ctx.secrets, mode=ctx.config.mode, alert=alert,
                           now_s=lambda: ctx.clock.now_ms() / 1000.0)
