"""Fixtures for live-execution tests: the fake Binance with order endpoints and a real-ccxt venue on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from src.core.events import Event
from src.exchange.binance import ExchangeClient, build_exchange
from src.exchange.retry import RetryPolicy
from src.execution.live_ccxt import LiveSettings, LiveVenue
from src.orders.ledger import Ledger
from src.orders.live_ledger import LiveFillRecorder
from src.orders.order_store import OrderStore
from src.state.store import StateStore
from tests.fakes.fake_binance import FakeBinance
from tests.fakes.fake_binance_orders import FakeOrders
from tests.fakes.fake_time import FakeTime

BTC_PRICE = "50000.00"


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as server:
        server.tickers["BTCUSDT"] = {"lastPrice": BTC_PRICE, "bidPrice": "49999.99", "askPrice": "50000.01"}
        server.balances = {"USDT": (100_000.0, 0.0), "BTC": (0.0, 0.0)}
        yield server


@pytest.fixture
def orders_fake(fake: FakeBinance, fake_time: FakeTime) -> FakeOrders:
    return FakeOrders(fake, now_s=fake_time)


class VenueHarness:
    """Builds venues (one per simulated process life) on one state folder; records published events."""

    def __init__(self, fake: FakeBinance, root: Path, fake_time: FakeTime) -> None:
        self.fake, self.root, self.time = fake, root, fake_time
        self.events: list[Event] = []
        self._clients: list[ExchangeClient] = []
        self.ledger: Ledger | None = None

    def client(self, exchange_id: str, timeout_ms: int) -> ExchangeClient:
        ex = build_exchange(exchange_id, api_base_url=self.fake.base_url, timeout_ms=timeout_ms,
                            api_key="k", secret="s")
        client = ExchangeClient(ex, policy=RetryPolicy(3, 0.1, 0.5, 1.0), sleep=self.time.sleep, now_s=self.time)
        self._clients.append(client)
        return client

    def venue(self, *, timeout_ms: int = 400, settings: LiveSettings = LiveSettings(resend_backoff_s=0.0),
              futures: bool = True) -> LiveVenue:
        store = OrderStore(StateStore(self.root / "state"), now_ms=self.time.now_ms)
        self.ledger = Ledger(self.root / "logs")  # a new process life opens the ledger afresh
        recorder = LiveFillRecorder(self.ledger)
        recorder.catch_up(store)
        fut = self.client("binanceusdm", timeout_ms) if futures else None
        return LiveVenue(self.client("binance", timeout_ms), fut, store, publish=self.events.append,
                         now_ms=self.time.now_ms, settings=settings, sleep=self.time.sleep, recorder=recorder)

    def fills(self) -> list[Event]:
        return [e for e in self.events if e.kind == "fill"]

    async def close(self) -> None:
        for c in self._clients:
            await c.close()
        self._clients.clear()


@pytest.fixture
async def harness(fake: FakeBinance, tmp_path: Path, fake_time: FakeTime) -> AsyncIterator[VenueHarness]:
    h = VenueHarness(fake, tmp_path, fake_time)
    yield h
    await h.close()


MakeIntent = Callable[..., object]
