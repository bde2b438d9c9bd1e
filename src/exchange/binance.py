"""The one ccxt adapter: every call to an exchange goes through :class:`ExchangeClient`.

Named after Binance (the default venue) but exchange-agnostic: ``exchange_id`` is any ccxt id.
What it adds on top of ``ccxt.async_support``:

* a shared :class:`~src.exchange.budget.RequestBudget` plugged in as ccxt's throttle (all callers,
  market data and orders alike, draw on one per-IP weight budget);
* the HTTP status and headers of each response, captured per task through a ContextVar (ccxt's
  ``last_response_headers`` is shared by concurrent calls), so 429 and 418 — both
  ``DDoSProtection`` in ccxt — are told apart and ``Retry-After`` is honoured;
* conversion of every ccxt error into :mod:`src.exchange.errors` and retries of temporary ones;
* typed, validated results (:mod:`src.exchange.models`) instead of ccxt dicts.

Order placement for the execution engine: ``await client.call("create_order", ..., retry=False)``
goes through the same budget, ban check and error conversion, without blind retries.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt

from src.core.events import Alert
from src.exchange.budget import RequestBudget
from src.exchange.errors import (
    BadExchangeResponse,
    ClockOutOfSync,
    ExchangeAccessError,
    IpBanned,
    RateLimited,
    UnknownSymbol,
    convert,
    is_clock_error,
)
from src.exchange.models import Balance, BookSnapshot, FundingSnapshot, MarketInfo, TickerSnapshot
from src.exchange.retry import RetryPolicy, retry_call

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
AlertSink = Callable[[Alert], None]
OHLCVRow = list[float]  # [open_time_ms, open, high, low, close, volume_base]

# Options that keep ccxt from touching endpoints market data never needs (margin, currencies), and
# sign with the exchange's clock: ``adjustForTimeDifference`` makes load_markets read the server
# time and ccxt's nonce() subtract the offset, so a drifting host clock does not earn -1021.
_QUIET_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False,
                "adjustForTimeDifference": True},
    "binanceusdm": {"fetchCurrencies": False, "fetchMargins": False, "adjustForTimeDifference": True},
}


def testnet_urls(ex: ccxt.Exchange, venue: str) -> None:
    """Point a client at Binance's test venues, the way ccxt signs them.

    ``venue="demo"``: Binance demo trading (``enable_demo_trading``: demo-api / demo-fapi hosts,
    one demo key for spot and futures). ``venue="spot_testnet"``: the spot testnet
    (testnet.binance.vision) through sandbox mode; ccxt refuses to sign the futures testnet
    ("testnet/sandbox mode is not supported for futures anymore"), so futures are off there.
    """
    if venue == "demo":
        ex.enable_demo_trading(True)
    else:
        ex.set_sandbox_mode(True)


@dataclass(frozen=True, slots=True)
class ResponseMeta:
    """HTTP status and headers of the last response seen by the current task."""

    status: int
    headers: dict[str, str]


_LAST_RESPONSE: ContextVar[ResponseMeta | None] = ContextVar("exchange_last_response", default=None)


def rewrite_api_urls(urls: Any, base_url: str) -> Any:
    """Replace scheme+host of every API url (nested dicts too), keeping the path."""
    base = base_url.rstrip("/")
    if isinstance(urls, str):
        return re.sub(r"^[a-z]+://[^/]+", base, urls)
    if isinstance(urls, dict):
        return {k: rewrite_api_urls(v, base) for k, v in urls.items()}
    return urls


def build_exchange(exchange_id: str, *, api_base_url: str | None = None, timeout_ms: int = 10_000,
                   sandbox: bool = False, api_key: str = "", secret: str = "",
                   testnet_venue: str = "demo") -> ccxt.Exchange:
    """Create a bare ccxt async instance; :class:`ExchangeClient` wraps it (``sandbox``: see :func:`testnet_urls`)."""
    cls = getattr(ccxt, exchange_id, None)
    if cls is None or not isinstance(cls, type):
        raise ValueError(f"exchange id '{exchange_id}' is not a ccxt exchange (config exchange.id)")
    params: dict[str, Any] = {"timeout": timeout_ms, "options": dict(_QUIET_OPTIONS.get(exchange_id, {}))}
    if api_key:
        params.update(apiKey=api_key, secret=secret)
    ex = cls(params)
    if sandbox:
        testnet_urls(ex, testnet_venue)
    if api_base_url:
        ex.urls["api"] = rewrite_api_urls(ex.urls["api"], api_base_url)
    return ex


def parse_retry_after(headers: dict[str, str], now_s: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date); None if absent."""
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(raw).timestamp() - now_s)
        except (TypeError, ValueError):
            return None


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadExchangeResponse(f"{what}: expected a number, got {value!r}")
    return float(value)


def _opt(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class ExchangeClient:
    """A shared, budgeted, retrying wrapper around one ccxt exchange instance."""

    def __init__(self, exchange: ccxt.Exchange, *, budget: RequestBudget | None = None,
                 policy: RetryPolicy = RetryPolicy(), sleep: Sleep = asyncio.sleep,
                 alert: AlertSink | None = None, now_s: Callable[[], float] = time.time,
                 default_ban_s: float = 120.0) -> None:
        self.ex = exchange
        self.id: str = exchange.id
        self.budget = budget
        self.policy = policy
        self._sleep = sleep
        self._alert = alert
        self._now_s = now_s
        self._default_ban_s = default_ban_s
        self.calls = 0
        self.errors: dict[str, int] = {}
        self.funding_hours: dict[str, float] = {}  # per perp, read from the exchange at start-up
        self._markets_lock = asyncio.Lock()
        exchange.enableRateLimit = budget is not None
        if budget is not None:
            exchange.throttle = budget.throttle
        original = exchange.on_rest_response

        def on_rest_response(code: int, reason: str, url: str, method: str, headers: dict, body: str,
                             request_headers: Any, request_body: Any) -> Any:
            _LAST_RESPONSE.set(ResponseMeta(int(code), dict(headers or {})))
            if budget is not None and headers:
                budget.observe_headers(headers)
            return original(code, reason, url, method, headers, body, request_headers, request_body)

        exchange.on_rest_response = on_rest_response

    # ----------------------------------------------------------------- core
    async def call(self, method: str, *args: Any, retry: bool = True,
                   parse: Callable[[Any], Any] | None = None, **kwargs: Any) -> Any:
        """Call ``ccxt_instance.<method>(*args, **kwargs)`` with budget, ban check, conversion, retries.

        ``parse`` turns the raw result into ours inside the retried attempt, so a malformed answer
        (ccxt returns e.g. an empty book for a non-JSON body) is retried like a network error.
        """
        def attempt() -> Awaitable[Any]:
            return self._once(method, args, kwargs, parse)

        if not retry:
            return await attempt()
        return await retry_call(attempt, self.policy, sleep=self._sleep, what=f"{self.id}.{method}")

    async def _once(self, method: str, args: tuple, kwargs: dict, parse: Callable[[Any], Any] | None) -> Any:
        if self.budget is not None:
            self.budget.check_ban()
        _LAST_RESPONSE.set(None)
        self.calls += 1
        try:
            raw = await self._invoke(method, args, kwargs)
            return parse(raw) if parse is not None else raw
        except ccxt.BaseError as exc:
            raise self._convert(exc) from exc
        except BadExchangeResponse:
            self._count("BadExchangeResponse")
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            self._count("BadExchangeResponse")
            raise BadExchangeResponse(f"{self.id}.{method}: unusable response ({exc!r})") from exc

    async def _invoke(self, method: str, args: tuple, kwargs: dict) -> Any:
        """One ccxt call; a -1021 (refused before any processing, so safe to repeat) re-reads the
        server time once and tries again; a second -1021 is the host clock's fault (alerted)."""
        try:
            return await getattr(self.ex, method)(*args, **kwargs)
        except ccxt.BaseError as exc:
            if not is_clock_error(exc):
                raise
            log.warning("%s.%s: timestamp outside recvWindow (-1021); re-syncing with the server time",
                        self.id, method)
            await self.ex.load_time_difference()
        try:
            return await getattr(self.ex, method)(*args, **kwargs)
        except ccxt.BaseError as exc:
            if is_clock_error(exc):
                self._on_clock(exc)
            raise

    def _on_clock(self, exc: BaseException) -> None:
        offset = self.ex.options.get("timeDifference")
        log.critical("%s: clock out of sync even after a time re-sync (offset %s ms): %s", self.id, offset, exc)
        if self._alert is not None:
            self._alert(Alert("action", f"{self.id}: host clock out of sync",
                              f"The exchange refuses signed requests (-1021) even after re-reading its time "
                              f"(offset {offset} ms). Action: {ClockOutOfSync.action}.",
                              key=f"clock:{self.id}", ts_ms=int(self._now_s() * 1000)))

    def _convert(self, exc: BaseException) -> ExchangeAccessError:
        meta = _LAST_RESPONSE.get()
        status = meta.status if meta else None
        retry_after = parse_retry_after(meta.headers, self._now_s()) if meta else None
        ban_until_ms = None
        if status == 418:
            ban_s = retry_after if retry_after is not None else self._default_ban_s
            ban_until_ms = int((self._now_s() + ban_s) * 1000)
            self._on_ban(ban_until_ms, str(exc))
        err = convert(exc, status=status, retry_after_s=retry_after, ban_until_ms=ban_until_ms)
        if isinstance(err, RateLimited) and retry_after is not None and self.budget is not None:
            self.budget.cool_down(min(retry_after, self.policy.max_retry_after_s))
        self._count(type(err).__name__)
        return err

    def _on_ban(self, until_ms: int, detail: str) -> None:
        if self.budget is not None:
            self.budget.ban(until_ms, detail[:200])
        log.critical("%s: IP banned (HTTP 418) until %d; all calls stopped until then", self.id, until_ms)
        if self._alert is not None:
            wait_s = until_ms / 1000 - self._now_s()
            self._alert(Alert("critical", f"{self.id}: IP banned by the exchange",
                              f"HTTP 418: no exchange calls for {wait_s:.0f}s. Reduce request rates.",
                              key=f"ip-ban:{self.id}", ts_ms=int(self._now_s() * 1000)))

    def _count(self, name: str) -> None:
        self.errors[name] = self.errors.get(name, 0) + 1

    async def close(self) -> None:
        """Close ccxt's HTTP session (ccxt warns about unclosed sessions otherwise)."""
        await self.ex.close()

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {"calls": self.calls, "errors": dict(self.errors)}
        if self.budget is not None:
            out["budget"] = self.budget.snapshot()
        return out

    # ----------------------------------------------------------------- markets
    async def load_markets(self, reload: bool = False) -> dict[str, Any]:
        async with self._markets_lock:
            if self.ex.markets and not reload:
                return self.ex.markets
            markets = await self.call("load_markets", reload)
            if not isinstance(markets, dict) or not markets:
                raise BadExchangeResponse(f"{self.id}: exchange listed no markets")
            return markets

    async def market(self, symbol: str) -> MarketInfo:
        """Precision, limits and fees of ``symbol``; raises UnknownSymbol if it does not exist."""
        markets = await self.load_markets()
        m = markets.get(symbol)
        if m is None:
            raise UnknownSymbol(f"{self.id}: no market '{symbol}'")
        prec, lim = m.get("precision") or {}, m.get("limits") or {}
        amount, cost = lim.get("amount") or {}, lim.get("cost") or {}
        return MarketInfo(symbol=symbol, exchange_symbol=str(m.get("id")), base=str(m.get("base")),
                          quote=str(m.get("quote")), type=str(m.get("type")), active=bool(m.get("active")),
                          contract=bool(m.get("contract")), linear=m.get("linear"),
                          amount_step=_opt(prec.get("amount")), price_step=_opt(prec.get("price")),
                          min_qty_base=_opt(amount.get("min")), max_qty_base=_opt(amount.get("max")),
                          min_cost_quote=_opt(cost.get("min")), maker_fee=_opt(m.get("maker")),
                          taker_fee=_opt(m.get("taker")))

    def now_ms(self) -> int:
        """The client's clock (injectable), in epoch ms."""
        return int(self._now_s() * 1000)

    def timeframe_ms(self, timeframe: str) -> int:
        return int(self.ex.parse_timeframe(timeframe) * 1000)

    # ----------------------------------------------------------------- candles
    async def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int | None = None,
                          limit: int | None = None) -> list[OHLCVRow]:
        """One page of candles, validated to be rows of six numbers (NaN is left to the validator)."""
        def parse(rows: Any) -> list[OHLCVRow]:
            if not isinstance(rows, list):
                raise BadExchangeResponse(f"{self.id}: OHLCV for {symbol} is not a list")
            out: list[OHLCVRow] = []
            for row in rows:
                if not isinstance(row, (list, tuple)) or len(row) < 6:
                    raise BadExchangeResponse(f"{self.id}: malformed OHLCV row {row!r}")
                out.append([_num(row[0], "open time")] + [_num(x, "ohlcv") for x in row[1:6]])
            return out

        return await self.call("fetch_ohlcv", symbol, timeframe, since_ms, limit, parse=parse)

    async def iter_ohlcv(self, symbol: str, timeframe: str, since_ms: int, until_ms: int | None = None,
                         page_limit: int = 1000) -> AsyncIterator[list[OHLCVRow]]:
        """Pages of *closed* candles with ``since_ms <= open time < until_ms``, oldest first.

        Short pages are not taken as the end (some venues cap ``limit``): paging stops on an empty
        page, on no progress, or once the newest closed candle is reached.
        """
        tf = self.timeframe_ms(timeframe)
        closed_end = (int(self._now_s() * 1000) // tf) * tf  # open time of the still-forming candle
        end = min(until_ms, closed_end) if until_ms is not None else closed_end
        cursor = since_ms
        while cursor < end:
            rows = await self.fetch_ohlcv(symbol, timeframe, cursor, page_limit)
            rows = [r for r in rows if cursor <= r[0] < end]
            if not rows:
                return
            yield rows
            nxt = int(rows[-1][0]) + tf
            if nxt <= cursor:
                return
            cursor = nxt

    # ----------------------------------------------------------------- prices
    async def fetch_ticker(self, symbol: str) -> TickerSnapshot:
        def parse(t: Any) -> TickerSnapshot:
            if not isinstance(t, dict):
                raise BadExchangeResponse(f"{self.id}: ticker for {symbol} is not an object")
            last = _opt(t.get("last")) or _opt(t.get("close"))
            if last is None or not math.isfinite(last):
                raise BadExchangeResponse(f"{self.id}: ticker for {symbol} has no last price")
            ts = t.get("timestamp") or int(self._now_s() * 1000)
            return TickerSnapshot(symbol, int(ts), last, _opt(t.get("bid")), _opt(t.get("ask")),
                                  _opt(t.get("baseVolume")))

        return await self.call("fetch_ticker", symbol, parse=parse)

    async def fetch_order_book(self, symbol: str, limit: int | None = None) -> BookSnapshot:
        """An L2 snapshot; an empty side is a bad response (ccxt returns that for a non-JSON body)."""
        def parse(b: Any) -> BookSnapshot:
            bids = tuple((_num(p, "bid"), _num(q, "bid qty")) for p, q, *_ in (b or {}).get("bids") or [])
            asks = tuple((_num(p, "ask"), _num(q, "ask qty")) for p, q, *_ in (b or {}).get("asks") or [])
            if not bids or not asks:
                raise BadExchangeResponse(f"{self.id}: order book for {symbol} has an empty side")
            ts = b.get("timestamp") or int(self._now_s() * 1000)
            return BookSnapshot(symbol, int(ts), bids, asks)

        return await self.call("fetch_order_book", symbol, limit, parse=parse)

    # ----------------------------------------------------------------- futures
    async def fetch_funding_rate(self, symbol: str) -> FundingSnapshot:
        def parse(f: Any) -> FundingSnapshot:
            rate = _opt((f or {}).get("fundingRate"))
            if rate is None:
                raise BadExchangeResponse(f"{self.id}: funding for {symbol} has no rate")
            ts = f.get("timestamp") or int(self._now_s() * 1000)
            nxt = f.get("nextFundingTimestamp") or f.get("fundingTimestamp")
            interval = f.get("interval")
            hours = float(interval[:-1]) if isinstance(interval, str) and interval.endswith("h") else \
                self.funding_hours.get(symbol, 8.0)
            return FundingSnapshot(symbol, int(ts), rate, int(nxt) if nxt else None,
                                   _opt(f.get("markPrice")), _opt(f.get("indexPrice")), hours)

        return await self.call("fetch_funding_rate", symbol, parse=parse)

    async def iter_funding_history(self, symbol: str, since_ms: int, until_ms: int | None = None,
                                   page_limit: int = 1000) -> AsyncIterator[list[tuple[int, float]]]:
        """Pages of settled funding ``(ts_ms, rate)``, oldest first."""
        end = until_ms if until_ms is not None else int(self._now_s() * 1000) + 1
        cursor = since_ms
        while cursor < end:
            page = await self.call("fetch_funding_rate_history", symbol, cursor, page_limit,
                                   parse=self._parse_funding_page)
            page = [p for p in page if cursor <= p[0] < end]
            if not page:
                return
            yield page
            if page[-1][0] + 1 <= cursor:
                return
            cursor = page[-1][0] + 1

    def _parse_funding_page(self, items: Any) -> list[tuple[int, float]]:
        if not isinstance(items, list):
            raise BadExchangeResponse(f"{self.id}: funding history is not a list")
        return [(int(_num(i.get("timestamp"), "funding time")), _num(i.get("fundingRate"), "funding"))
                for i in items if isinstance(i, dict)]

    async def fetch_funding_intervals(self, symbols: list[str]) -> dict[str, float]:
        """Hours between settlements per perp (ccxt symbol). Binance's fundingInfo lists only the
        symbols whose interval was changed; every other perp settles every 8 hours."""
        raw = await self.call("fetch_funding_intervals", symbols)
        out = {s: 8.0 for s in symbols}
        for sym, item in (raw or {}).items():
            interval = (item or {}).get("interval")
            if sym in out and isinstance(interval, str) and interval.endswith("h"):
                out[sym] = float(interval[:-1])
        return out

    async def fetch_open_interest(self, symbol: str) -> float | None:
        """Open interest in contracts/base, or None where the venue does not publish it."""
        if not self.ex.has.get("fetchOpenInterest"):
            return None
        oi = await self.call("fetch_open_interest", symbol)
        return _opt((oi or {}).get("openInterestAmount"))

    # ----------------------------------------------------------------- account
    async def fetch_balance(self) -> dict[str, Balance]:
        """Non-zero balances per asset (needs API keys)."""
        raw = await self.call("fetch_balance")
        out: dict[str, Balance] = {}
        for asset, total in ((raw or {}).get("total") or {}).items():
            if total:
                free = _opt(raw.get("free", {}).get(asset)) or 0.0
                used = _opt(raw.get("used", {}).get(asset)) or 0.0
                out[asset] = Balance(asset, free, used, float(total))
        return out


def perp_symbol(spot_symbol: str) -> str:
    """``BTC/USDT`` → ``BTC/USDT:USDT`` (the ccxt symbol of the USD-M perpetual)."""
    if ":" in spot_symbol:
        return spot_symbol
    return f"{spot_symbol}:{spot_symbol.split('/')[1]}"


__all__ = ["ExchangeClient", "IpBanned", "ResponseMeta", "build_exchange", "parse_retry_after",
           "perp_symbol", "rewrite_api_urls"]
