"""Fixtures for market-data tests: a loopback fake Binance and real ccxt clients pointed at it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable

import pytest

from src.exchange.binance import ExchangeClient, build_exchange
from src.exchange.budget import RequestBudget
from src.exchange.retry import RetryPolicy
from tests.fakes.fake_binance import FakeBinance
from tests.fakes.fake_time import FakeTime


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.lower().endswith("_proxy"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as server:
        yield server


MakeClient = Callable[..., ExchangeClient]


@pytest.fixture
async def make_client(fake: FakeBinance, fake_time: FakeTime) -> AsyncIterator[MakeClient]:
    """Build real ccxt clients against ``fake``; every one is closed after the test."""
    made: list[ExchangeClient] = []

    def build(exchange_id: str = "binance", *, budget: RequestBudget | None = None, attempts: int = 4,
              timeout_ms: int = 2_000, alert: Callable | None = None, api_key: str = "") -> ExchangeClient:
        ex = build_exchange(exchange_id, api_base_url=fake.base_url, timeout_ms=timeout_ms,
                            api_key=api_key, secret="s" if api_key else "")
        ex.timeout_on_exit = 0  # ccxt pauses on close for TLS goodbyes; loopback has none
        client = ExchangeClient(ex, budget=budget, policy=RetryPolicy(attempts, 0.5, 4.0, 60.0),
                                sleep=fake_time.sleep, alert=alert, now_s=fake_time)
        made.append(client)
        return client

    yield build
    for client in made:
        await client.close()
