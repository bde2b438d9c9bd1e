"""Exchange access: the one ccxt adapter, its errors, retries and the shared request budget.

Public surface (import from here):

* :func:`build_exchange_clients` (ctx) → :class:`ExchangeClients` registry; ``.spot`` / ``.futures`` /
  ``.get(id)`` give the shared :class:`ExchangeClient`; ``await registry.close()`` at shutdown.
* :class:`ExchangeClient` — typed reads (markets, OHLCV pages, ticker, book, funding, open
  interest, balances) and ``call(method, ..., retry=False)`` for anything else (orders).
* errors: :class:`ExchangeAccessError` and its subclasses, named for the operator's action.
* :class:`RequestBudget` — one per exchange, shared by every caller.
"""

from src.exchange.binance import ExchangeClient, build_exchange, perp_symbol, rewrite_api_urls
from src.exchange.budget import RequestBudget
from src.exchange.clients import ExchangeClients, build_exchange_clients
from src.exchange.errors import (
    BadExchangeResponse,
    ClockOutOfSync,
    CredentialsRejected,
    ExchangeAccessError,
    ExchangeRequestRejected,
    ExchangeUnavailable,
    InsufficientBalance,
    IpBanned,
    OrderRejected,
    RateLimited,
    TemporaryExchangeError,
    UnknownSymbol,
)
from src.exchange.retry import RetryPolicy, retry_call

__all__ = [
    "BadExchangeResponse", "ClockOutOfSync", "CredentialsRejected", "ExchangeAccessError", "ExchangeClient",
    "ExchangeClients",
    "ExchangeRequestRejected", "ExchangeUnavailable", "InsufficientBalance", "IpBanned", "OrderRejected",
    "RateLimited", "RequestBudget", "RetryPolicy", "TemporaryExchangeError", "UnknownSymbol",
    "build_exchange", "build_exchange_clients", "perp_symbol", "retry_call", "rewrite_api_urls",
]
