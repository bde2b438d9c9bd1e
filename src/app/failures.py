"""Which crashes are the network's fault, and the one line a person reads about them.

A VPS that loses its connection must not fill the console with chained tracebacks: an outage is
expected, the supervisor restarts the task with back-off, and the line says so. Everything else
(our bugs) keeps its traceback.
"""

from __future__ import annotations

import socket

import aiohttp
import ccxt.async_support as ccxt
from telegram.error import NetworkError as TelegramNetworkError

from src.exchange.errors import TemporaryExchangeError

# Not OSError in general: a full disk is our problem, not the network's, and keeps its traceback.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (TemporaryExchangeError, ccxt.NetworkError, TelegramNetworkError,
                                                    aiohttp.ClientError, socket.gaierror, ConnectionError,
                                                    TimeoutError)


def is_network_failure(exc: BaseException) -> bool:
    """True when ``exc`` (or anything it was raised from) is a network or exchange outage."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, NETWORK_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def network_line(exc: BaseException) -> str:
    """``cannot reach the network (ExchangeUnavailable: binance GET …)``, at most ~200 characters."""
    text = " ".join(str(exc).split())
    return f"cannot reach the network ({type(exc).__name__}: {text[:160]})"
