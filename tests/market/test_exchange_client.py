"""The real ccxt client against the loopback fake: reads, pagination, faults, retries, budget."""

from __future__ import annotations

import pytest

from src.config.market import ExchangeConfig
from src.core.events import Alert
from src.exchange import (
    BadExchangeResponse,
    CredentialsRejected,
    ExchangeClients,
    ExchangeUnavailable,
    IpBanned,
    RateLimited,
    RequestBudget,
    UnknownSymbol,
)
from tests.fakes.fake_binance import FakeBinance, minute_rows
from tests.fakes.fake_time import FakeTime
from tests.market.conftest import MakeClient

KLINES = "/api/v3/klines"
DEPTH = "/api/v3/depth"


async def test_markets_spot_and_futures(fake: FakeBinance, make_client: MakeClient) -> None:
    spot, fut = make_client("binance"), make_client("binanceusdm")

    btc = await spot.market("BTC/USDT")
    perp = await fut.market("BTC/USDT:USDT")

    assert (btc.type, btc.price_step, btc.amount_step, btc.min_cost_quote) == ("spot", 0.01, 1e-05, 5.0)
    assert btc.taker_fee is not None
    assert btc.active
    assert perp.contract
    assert perp.linear
    assert fake.count("/api/v3/exchangeInfo") == 1
    assert fake.count("/fapi/v1/exchangeInfo") == 1
    assert not any(r.path.startswith(("/sapi", "/dapi")) for r in fake.requests)
    with pytest.raises(UnknownSymbol):
        await spot.market("NOPE/USDT")


@pytest.mark.parametrize("server_cap", [1000, 300])
async def test_ohlcv_pagination_is_complete_and_skips_the_open_candle(
        fake: FakeBinance, make_client: MakeClient, fake_time: FakeTime, server_cap: int) -> None:
    rows = minute_rows(fake_time(), 2_500)
    open_candle = [rows[-1][0] + 60_000, 1, 1, 1, 1, 1]
    fake.set_klines("BTCUSDT", "1m", [*rows, open_candle])
    fake.max_klines_limit = server_cap  # 300: every page is "short"; paging must not stop early
    client = make_client()

    got = [r async for page in client.iter_ohlcv("BTC/USDT", "1m", int(rows[0][0])) for r in page]

    assert [r[0] for r in got] == [r[0] for r in rows]
    assert got[-1][4] == pytest.approx(rows[-1][4])
    assert fake.count(KLINES) == -(-2_500 // server_cap)


async def test_ticker_book_balance(fake: FakeBinance, make_client: MakeClient) -> None:
    fake.tickers["BTCUSDT"] = {"lastPrice": "65000.5", "bidPrice": "65000.4", "askPrice": "65000.6"}
    client = make_client(api_key="k")

    ticker = await client.fetch_ticker("BTC/USDT")
    book = await client.fetch_order_book("BTC/USDT", 5)
    balances = await client.fetch_balance()

    assert (ticker.last, ticker.bid, ticker.ask) == (65000.5, 65000.4, 65000.6)
    assert book.bids[0][0] < book.asks[0][0]
    assert book.bids[0][0] >= book.bids[-1][0]
    assert balances["USDT"].free == 1000.0
    assert fake.requests[-1].headers.get("X-MBX-APIKEY") == "k"


async def test_funding_current_history_and_open_interest(fake: FakeBinance, make_client: MakeClient) -> None:
    start = 1_640_995_200_000
    fake.funding["BTCUSDT"] = [(start + i * 8 * 3_600_000, 0.0001 * (i % 3)) for i in range(2_300)]
    fut = make_client("binanceusdm")

    now = await fut.fetch_funding_rate("BTC/USDT:USDT")
    history = [p async for page in fut.iter_funding_history("BTC/USDT:USDT", start) for p in page]
    oi = await fut.fetch_open_interest("BTC/USDT:USDT")

    assert now.rate == pytest.approx(0.0001)
    assert now.next_funding_ms is not None
    assert [t for t, _ in history] == [t for t, _ in fake.funding["BTCUSDT"]]
    assert fake.count("/fapi/v1/fundingRate") == 4  # 3 pages of <=1000 and one empty end-of-data page
    assert oi == pytest.approx(10659.5)


async def test_429_honours_retry_after(fake: FakeBinance, make_client: MakeClient,
                                       fake_time: FakeTime) -> None:
    fake.fault(DEPTH, status=429, body="{}", headers={"Retry-After": "7"})
    client = make_client()

    await client.fetch_order_book("BTC/USDT")

    assert fake.count(DEPTH) == 2
    assert len(fake_time.sleeps) == 1
    assert 7.0 <= fake_time.sleeps[0] <= 7.5


async def test_418_stops_all_calls_until_the_ban_ends(fake: FakeBinance, make_client: MakeClient,
                                                      fake_time: FakeTime) -> None:
    alerts: list[Alert] = []
    budget = RequestBudget(1_000, sleep=fake_time.sleep, now_s=fake_time)
    client = make_client(budget=budget, alert=alerts.append)
    fake.fault(DEPTH, status=418, headers={"Retry-After": "120"})

    with pytest.raises(IpBanned) as first:
        await client.fetch_order_book("BTC/USDT")
    with pytest.raises(IpBanned):
        await client.fetch_ticker("BTC/USDT")  # refused locally: the exchange never sees it

    assert fake.count(DEPTH) == 1
    assert fake.count("/api/v3/ticker/24hr") == 0
    assert first.value.until_ms == int((fake_time() + 120) * 1000)
    assert [a.level for a in alerts] == ["critical"]
    assert fake_time.sleeps == []
    fake_time.now += 121
    assert (await client.fetch_ticker("BTC/USDT")).last > 0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried(fake: FakeBinance, make_client: MakeClient, fake_time: FakeTime,
                                         status: int) -> None:
    fake.fault(DEPTH, status=status, body="gateway trouble", times=2)
    client = make_client()

    await client.fetch_order_book("BTC/USDT")

    assert fake.count(DEPTH) == 3
    assert len(fake_time.sleeps) == 2
    assert fake_time.sleeps[1] <= 1.0 + 1e-9  # exponential: <= base * 2, jittered


@pytest.mark.parametrize("body", ['{"code":-1001,"msg":"Internal error; unable to process your request."}',
                                  '{"code":-1000,"msg":"An unknown error occurred."}',
                                  '{"code":-1003,"msg":"Too much request weight used."}'])
async def test_binance_try_again_codes_are_retried(fake: FakeBinance, make_client: MakeClient,
                                                   body: str) -> None:
    fake.fault(DEPTH, status=503 if "-1001" in body else 400 if "-1003" in body else 500, body=body)
    client = make_client()

    await client.fetch_order_book("BTC/USDT")

    assert fake.count(DEPTH) == 2


async def test_persistent_outage_gives_up_with_a_clear_error(fake: FakeBinance,
                                                             make_client: MakeClient) -> None:
    fake.fault(DEPTH, status=503, body="maintenance", times=99)
    client = make_client(attempts=3)

    with pytest.raises(ExchangeUnavailable):
        await client.fetch_order_book("BTC/USDT")

    assert fake.count(DEPTH) == 3


async def test_timeout_is_retried(fake: FakeBinance, make_client: MakeClient) -> None:
    fake.fault(DEPTH, hang_s=5.0)
    client = make_client(timeout_ms=1_000)  # generous: a loaded CI box must not time out the retry too

    book = await client.fetch_order_book("BTC/USDT")

    assert book.asks
    assert fake.count(DEPTH) == 2


async def test_malformed_json_is_retried_then_reported(fake: FakeBinance, make_client: MakeClient) -> None:
    fake.fault("/api/v3/ticker/24hr", malformed=True)
    fake.fault(DEPTH, malformed=True, times=9)
    client = make_client(attempts=3)

    assert (await client.fetch_ticker("BTC/USDT")).last == 100.0
    with pytest.raises(BadExchangeResponse):
        await client.fetch_order_book("BTC/USDT")

    assert fake.count("/api/v3/ticker/24hr") == 2
    assert fake.count(DEPTH) == 3


async def test_dropped_connections_end_in_exchange_unavailable(fake: FakeBinance,
                                                               make_client: MakeClient) -> None:
    fake.fault(DEPTH, drop=True, times=99)
    client = make_client(attempts=2)

    with pytest.raises(ExchangeUnavailable):
        await client.fetch_order_book("BTC/USDT")

    # aiohttp itself silently retries a request once when a reused keep-alive connection dies, so
    # the server may see up to two requests per attempt; what matters is that it gave up, typed.
    assert 2 <= fake.count(DEPTH) <= 4


async def test_permanent_errors_are_not_retried(fake: FakeBinance, make_client: MakeClient) -> None:
    fake.fault(DEPTH, status=400, body='{"code":-1121,"msg":"Invalid symbol."}')
    client = make_client()
    keyed = make_client(api_key="bad")
    fake.fault("/api/v3/account", status=401,
               body='{"code":-2015,"msg":"Invalid API-key, IP, or permissions."}')

    with pytest.raises(UnknownSymbol):
        await client.fetch_order_book("BTC/USDT")
    with pytest.raises(CredentialsRejected):
        await keyed.fetch_balance()

    assert fake.count(DEPTH) == 1
    assert fake.count("/api/v3/account") == 1


async def test_budget_waits_instead_of_overspending(fake: FakeBinance, make_client: MakeClient,
                                                   fake_time: FakeTime) -> None:
    budget = RequestBudget(3, sleep=fake_time.sleep, now_s=fake_time)
    client = make_client(budget=budget)
    await client.load_markets()

    for _ in range(12):
        await client.fetch_ticker("BTC/USDT")

    assert fake_time.sleeps, "a budget of 3 per minute must make 13 requests wait"
    assert budget.requests == 14
    assert budget.used() <= 3
    assert budget.server_used_weight is not None


async def test_rate_limited_after_retries_is_typed(fake: FakeBinance, make_client: MakeClient) -> None:
    fake.fault(DEPTH, status=429, headers={"Retry-After": "1"}, times=9)
    client = make_client(attempts=2)

    with pytest.raises(RateLimited) as err:
        await client.fetch_order_book("BTC/USDT")

    assert err.value.retry_after_s == 1.0
    assert fake.count(DEPTH) == 2


async def test_registry_from_config_shares_and_closes_clients(fake: FakeBinance) -> None:
    cfg = ExchangeConfig(api_base_url=fake.base_url, timeout_ms=2_000)
    registry = ExchangeClients(cfg, mode="paper")
    try:
        assert registry.spot is registry.get("binance")
        assert registry.futures is not None
        assert registry.futures.id == "binanceusdm"
        assert (await registry.futures.fetch_funding_rate("ETH/USDT:USDT")).rate == pytest.approx(0.0001)
        # markets, the server-time sync (adjustForTimeDifference), the funding rate
        assert registry.snapshot()["binanceusdm"]["budget"]["requests"] == 3
    finally:
        await registry.close()
    assert registry.snapshot() == {}


async def test_429_cools_down_every_caller_of_the_budget(fake: FakeBinance, make_client: MakeClient,
                                                         fake_time: FakeTime) -> None:
    budget = RequestBudget(1_000, sleep=fake_time.sleep, now_s=fake_time)
    client = make_client(budget=budget, attempts=1)
    fake.fault(DEPTH, status=429, headers={"Retry-After": "9"})

    with pytest.raises(RateLimited):
        await client.fetch_order_book("BTC/USDT")
    start = fake_time()
    await client.fetch_ticker("BTC/USDT")  # another caller, another endpoint: still waits

    assert fake_time() - start == pytest.approx(9.0)
