"""ccxt exceptions converted, in one place, into errors named for what the operator must do.

Callers never catch ``ccxt.*``: they catch one of the classes below. :class:`TemporaryExchangeError`
subclasses are retried by :mod:`src.exchange.retry`; everything else needs a person or a code fix
and is raised at once, with a message that says which.
"""

from __future__ import annotations

import ccxt.async_support as ccxt

from src.core.errors import LabError


class ExchangeAccessError(LabError):
    """Base of every exchange failure this project raises."""

    action = "investigate"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TemporaryExchangeError(ExchangeAccessError):
    """The exchange or the network hiccupped; retrying later should succeed."""

    action = "retry later"


class ExchangeUnavailable(TemporaryExchangeError):
    """Connection refused/dropped, 5xx, maintenance, or a timeout."""


class RateLimited(TemporaryExchangeError):
    """HTTP 429 or a rate-limit code: slow down; ``retry_after_s`` is the server's hint."""

    action = "slow down"

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s


class IpBanned(ExchangeAccessError):
    """HTTP 418: the exchange banned this IP; no call may be made until ``until_ms``."""

    action = "wait for the ban to end and reduce the request rate"

    def __init__(self, message: str, *, until_ms: int, status: int | None = 418) -> None:
        super().__init__(message, status=status)
        self.until_ms = until_ms


class CredentialsRejected(ExchangeAccessError):
    """API key, secret, IP whitelist or permissions are wrong."""

    action = "fix the exchange API key / secret / permissions"


class ClockOutOfSync(ExchangeAccessError):
    """Binance -1021: the request's timestamp is outside ``recvWindow`` of the server's clock, even
    after re-reading the server time. Retrying cannot help until the host clock is fixed (NTP)."""

    action = "fix the host clock (enable NTP time sync)"


class UnknownSymbol(ExchangeAccessError):
    """The symbol does not exist (or is not trading) on this exchange."""

    action = "fix the symbol in config"


class InsufficientBalance(ExchangeAccessError):
    """Not enough funds or margin for the request."""

    action = "add funds or reduce size"


class OrderRejected(ExchangeAccessError):
    """The exchange refused the order's parameters (size, price, filters)."""

    action = "fix the order parameters"


class BadExchangeResponse(TemporaryExchangeError):
    """The exchange answered with something we cannot use (malformed JSON, wrong shape); retried."""

    action = "retry later; report if it persists"


class ExchangeRequestRejected(ExchangeAccessError):
    """Any other refusal the exchange gave; retrying the same request will not help."""


_BY_TYPE: tuple[tuple[type[Exception], type[ExchangeAccessError]], ...] = (
    (ccxt.AuthenticationError, CredentialsRejected),
    (ccxt.PermissionDenied, CredentialsRejected),
    (ccxt.AccountSuspended, CredentialsRejected),
    (ccxt.BadSymbol, UnknownSymbol),
    (ccxt.InsufficientFunds, InsufficientBalance),
    (ccxt.InvalidOrder, OrderRejected),
    (ccxt.BadResponse, BadExchangeResponse),
    (ccxt.NullResponse, BadExchangeResponse),
)

# Binance returns these codes for "internal error / try again"; ccxt raises plain OperationFailed.
_TEMPORARY_CODES = ('"code":-1000', '"code":-1001', '"code":-1007', '"code": -1000', '"code": -1001')


def convert(exc: BaseException, *, status: int | None = None, retry_after_s: float | None = None,
            ban_until_ms: int | None = None) -> ExchangeAccessError:
    """Map a ccxt exception (plus the HTTP status seen) to the one error type callers handle.

    ccxt maps both 429 and 418 to ``DDoSProtection``; the HTTP status decides which one it was.
    """
    if isinstance(exc, ExchangeAccessError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    if is_clock_error(exc):
        return ClockOutOfSync(f"clock out of sync with the exchange (-1021): {text}", status=status)
    if status == 418 or ban_until_ms is not None:
        return IpBanned(f"IP banned by the exchange (HTTP 418): {text}", until_ms=ban_until_ms or 0)
    if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)) or status == 429:
        return RateLimited(text, status=status, retry_after_s=retry_after_s)
    if isinstance(exc, (ccxt.NetworkError, TimeoutError, ConnectionError)):
        return ExchangeUnavailable(text, status=status)
    for ccxt_type, ours in _BY_TYPE:
        if isinstance(exc, ccxt_type):
            return ours(text, status=status)
    if isinstance(exc, ccxt.OperationFailed) and not isinstance(exc, ccxt.ExchangeError):
        return ExchangeUnavailable(text, status=status)
    if any(code in str(exc) for code in _TEMPORARY_CODES):
        return ExchangeUnavailable(text, status=status)
    if status is not None and status >= 500:
        return ExchangeUnavailable(text, status=status)
    return ExchangeRequestRejected(text, status=status)


def is_margin_mode_already_set(exc: BaseException) -> bool:
    """Binance -4046 "No need to change margin type." (ccxt MarginModeAlreadySet): already as asked."""
    cause = exc.__cause__ if isinstance(exc, ExchangeAccessError) else exc
    return isinstance(cause, ccxt.MarginModeAlreadySet)


def is_clock_error(exc: BaseException) -> bool:
    """Binance -1021 "Timestamp for this request ... recvWindow": ccxt raises InvalidNonce (a
    NetworkError, so "temporary") from the shared code table, BadRequest from the spot table."""
    return isinstance(exc, ccxt.InvalidNonce) or '"code":-1021' in str(exc).replace(" ", "")


def is_temporary(exc: BaseException) -> bool:
    """True when retrying the same request later may succeed."""
    return isinstance(exc, TemporaryExchangeError)
