"""Retries for reads: exponential backoff with full jitter, and the server's Retry-After first.

Only :class:`~src.exchange.errors.TemporaryExchangeError` is retried. An IP ban, bad credentials, an
unknown symbol or a refused order raise at once: repeating them cannot succeed and, for a ban,
would make it longer. Order placement must not use this blindly (a timed-out POST may have been
executed); the execution engine decides that with client order ids.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from src.exchange.errors import RateLimited, is_temporary

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``attempts`` calls in total, waits between ``base_s`` and ``max_s``."""

    attempts: int = 5
    base_s: float = 0.5
    max_s: float = 30.0
    max_retry_after_s: float = 120.0

    def wait_s(self, attempt: int, exc: BaseException | None,
               rng: Callable[[], float] = random.random) -> float:
        """Retry-After when the server gave one (capped), else full-jitter exponential backoff."""
        if isinstance(exc, RateLimited) and exc.retry_after_s is not None:
            return min(max(exc.retry_after_s, 0.0), self.max_retry_after_s) + rng() * self.base_s
        ceiling = min(self.max_s, self.base_s * (2 ** max(attempt - 1, 0)))
        return ceiling * (0.5 + 0.5 * rng())


async def retry_call(fn: Callable[[], Awaitable[T]], policy: RetryPolicy, *, sleep: Sleep = asyncio.sleep,
                     what: str = "request",
                     on_retry: Callable[[int, BaseException, float], None] | None = None,
                     rng: Callable[[], float] = random.random) -> T:
    """Await ``fn()`` until it succeeds, a permanent error is raised, or attempts run out.

    The last temporary error is re-raised as itself, so callers see e.g. ``ExchangeUnavailable``.
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return policy.wait_s(state.attempt_number, exc, rng)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        # DEBUG: the caller reports the outcome once (one line per failure, not one per attempt)
        log.debug("%s failed (attempt %d/%d): %s; retrying in %.2fs", what, state.attempt_number,
                  policy.attempts, exc, delay)
        if on_retry is not None and exc is not None:
            on_retry(state.attempt_number, exc, delay)

    retrying = AsyncRetrying(stop=stop_after_attempt(policy.attempts), wait=wait,
                             retry=retry_if_exception(is_temporary), sleep=sleep,
                             before_sleep=before_sleep, reraise=True)
    async for attempt in retrying:
        with attempt:
            return await fn()
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
