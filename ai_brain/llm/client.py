"""The one way the bot talks to an LLM: a provider (Gemini or OpenAI-compatible) behind cache,
budget, breaker, server-paced retries and schema tiers.

A call either returns a schema-valid answer or raises an :class:`LLMError` whose message says
why (refused by the breaker, the budget or the server's retry delay, timed out, transport
failure, cut off at the token cap, unusable output). Only transient failures are retried, never
sooner than the server asked (a 429's retry delay also holds back every later call). A schema the
service refuses steps down to a smaller tier for that schema. A 404 for the model is a person's
job: one action alert naming ``llm.model``, and no more calls until a restart. A slow or broken
model never delays trading: callers run in the brain's cycle task, never in the feed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ai_brain.llm.gemini import GeminiProvider
from ai_brain.llm.governance import CachedAnswer, CircuitBreaker, ResponseCache, TokenBudget, prompt_key
from ai_brain.llm.openai_compatible import OpenAICompatibleProvider
from ai_brain.llm.provider import Completion, Provider, ProviderError, Request
from ai_brain.llm.schema import TIERS, json_schema_for, schema_bytes
from src.config import Secrets
from src.config.brain import LLMConfig
from src.core.errors import LabError
from src.core.events import Alert

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


class LLMError(LabError):
    """The model gave nothing usable; ``kind`` is a short tag for counters."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class LLMAnswer:
    parsed: BaseModel
    text: str
    key: str
    cached: bool


def parse_answer(text: str | None, schema: type[M]) -> M:
    """Validate the raw answer ourselves, so a rejection carries the reason (the SDK's ``parsed``
    is silently None on any mismatch)."""
    if not text:
        raise LLMError("empty", "empty answer")
    try:
        return schema.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "<root>"
        kind = "malformed" if first.get("type") == "json_invalid" else "schema"
        raise LLMError(kind, f"answer fails the schema at {where}: {first.get('msg')}") from None


def finish_problem(done: Completion, cfg: LLMConfig) -> LLMError | None:
    """An answer the service itself cut short or withheld, named for what to change."""
    if done.finish == "max_tokens":
        return LLMError("max_tokens", f"answer cut off at llm.max_output_tokens={cfg.max_output_tokens} "
                        f"({done.thinking_tokens} thinking + {done.output_tokens} answer tokens); lower "
                        "llm.thinking_budget or raise llm.max_output_tokens")
    if done.finish == "blocked":
        return LLMError("blocked", f"answer withheld by the service ({done.detail})")
    return None


def make_provider(cfg: LLMConfig, secrets: Secrets) -> Provider | str:
    """The configured provider, or why there is none (the offline generators then run alone)."""
    if not cfg.enabled:
        return "disabled in config"
    if cfg.provider == "openai_compatible":
        return OpenAICompatibleProvider(cfg, secrets.llm_api_key)
    if not secrets.gemini_api_key:
        return "no GEMINI_API_KEY"
    return GeminiProvider(cfg, secrets.gemini_api_key)


def _no_alert(_alert: Alert) -> None:
    return None


class LLMGateway:
    """Governed access to one model; create once, ``await close()`` at shutdown. ``alert`` receives
    action alerts (the wiring passes ``bus.publish``); ``sleep`` and ``monotonic`` are injectable
    so tests wait no real time."""

    def __init__(self, cfg: LLMConfig, provider: Provider, cache: ResponseCache, budget: TokenBudget,
                 breaker: CircuitBreaker, alert: Callable[[Alert], None] = _no_alert,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.provider, self.cache, self.budget, self.breaker = cfg, provider, cache, budget, breaker
        self._alert, self._sleep, self._mono = alert, sleep, monotonic
        self.failures: dict[str, int] = {}
        self.calls = 0
        self.not_before = 0.0  # monotonic time before which the server asked us not to call
        self.halted: str | None = None  # a person must fix the config (unknown model)
        self.tiers: dict[str, int] = {}  # schema name -> index into TIERS

    async def close(self) -> None:
        await self.provider.close()

    def _fail(self, kind: str, message: str) -> LLMError:
        self.failures[kind] = self.failures.get(kind, 0) + 1
        log.warning("LLM call failed (%s): %s", kind, message)
        return LLMError(kind, message)

    async def generate(self, system: str, prompt: str, schema: type[M], temperature: float) -> LLMAnswer:
        """Answer ``prompt`` as an instance of ``schema`` (from the cache when the prompt was seen)."""
        key = prompt_key(self.cfg.model, system, prompt, schema.__name__, temperature)
        hit = self.cache.get(key)
        if hit is not None:
            return LLMAnswer(self._parse(hit.response_text, schema), hit.response_text or "", key, True)
        self._admit(prompt, schema)
        done = await self._call(system, prompt, schema, temperature)
        self.budget.charge(done.prompt_tokens, done.output_tokens, done.thinking_tokens)
        problem = finish_problem(done, self.cfg)
        if problem is not None:
            self.breaker.failure()
            raise self._fail(problem.kind, str(problem))
        self.cache.put(CachedAnswer(key=key, model=self.cfg.model, system=system, prompt=prompt,
                                    temperature=temperature, response_text=done.text,
                                    prompt_tokens=done.prompt_tokens, output_tokens=done.output_tokens,
                                    thinking_tokens=done.thinking_tokens,
                                    created_at=datetime.now(UTC).isoformat()))
        try:
            parsed = self._parse(done.text, schema)
        except LLMError:
            self.breaker.failure()
            raise
        self.breaker.success()
        return LLMAnswer(parsed, done.text or "", key, False)

    def _admit(self, prompt: str, schema: type[BaseModel]) -> None:
        """Refuse before calling: a halt, the server's retry delay, the breaker, the budget."""
        if self.halted:
            raise self._fail("model_not_found", self.halted)
        wait = self.not_before - self._mono()
        if wait > 0:
            raise self._fail("rate_limited", f"the server asked to wait; {wait:.0f} s left")
        if not self.breaker.allow():
            raise self._fail("breaker_open", f"circuit breaker open after {self.breaker.failures} failures")
        schema_tokens = schema_bytes(self._schema(schema)) // 4  # the schema counts as input
        problem = self.budget.allows(len(prompt) // 4 + schema_tokens + self.cfg.max_output_tokens)
        if problem:
            raise self._fail("budget", problem)

    def _parse(self, text: str | None, schema: type[M]) -> M:
        try:
            return parse_answer(text, schema)
        except LLMError as exc:
            raise self._fail(exc.kind, str(exc)) from None

    def _schema(self, schema: type[BaseModel]) -> dict[str, Any] | None:
        return json_schema_for(schema, TIERS[self.tiers.get(schema.__name__, 0)])

    def _step_down(self, schema: type[BaseModel], why: str) -> bool:
        """Use the next smaller schema tier for ``schema`` from now on; False when none is left."""
        index = self.tiers.get(schema.__name__, 0)
        if index + 1 >= len(TIERS):
            return False
        self.tiers[schema.__name__] = index + 1
        log.warning("LLM refused the %s schema (%s tier): %s; using the %s tier", schema.__name__, TIERS[index],
                    why, TIERS[index + 1])
        return True

    async def _call(self, system: str, prompt: str, schema: type[BaseModel], temperature: float) -> Completion:
        attempt = 0
        started = self._mono()
        while True:
            request = Request(system, prompt, schema.__name__, self._schema(schema), temperature,
                              self.cfg.max_output_tokens)
            self.calls += 1
            try:
                done = await asyncio.wait_for(self.provider.complete(request), self.cfg.timeout_s + 1.0)
                log.info("LLM answered in %.2f s", self._mono() - started)
                return done
            except TimeoutError:
                err = ProviderError("timeout", f"no answer within {self.cfg.timeout_s:.1f} s")
            except ProviderError as exc:
                err = exc
            if err.kind == "schema_refused" and self._step_down(schema, str(err)):
                continue
            delay = self._retry_delay(err, attempt)
            if delay is None:
                raise self._failed(err)
            attempt += 1
            await self._sleep(delay)

    def _retry_delay(self, err: ProviderError, attempt: int) -> float | None:
        """Seconds to wait before retrying ``err``, never less than the server asked; None = give up
        (not transient, retries spent, or the server's delay is longer than ``llm.retry_max_s``)."""
        server = err.retry_after_s
        if server is not None:
            self.not_before = max(self.not_before, self._mono() + server)
        if not err.transient or attempt >= self.cfg.retries:
            return None
        wait = max(min(self.cfg.retry_initial_s * 2 ** attempt, self.cfg.retry_max_s), server or 0.0)
        return wait if wait <= self.cfg.retry_max_s else None

    def _failed(self, err: ProviderError) -> LLMError:
        """Book a call that gave up: the breaker, a rate-limit hold, or a halt with an alert."""
        if err.kind == "model_not_found":
            self._halt(str(err))
        elif not (err.kind == "rate_limited" and err.retry_after_s is not None):
            self.breaker.failure()
        return self._fail(err.kind, str(err))

    def _halt(self, message: str) -> None:
        self.halted = f"llm.model {self.cfg.model!r} not found: {message}"
        self._alert(Alert("action", f"LLM model not found: {self.cfg.model}", (
            f"The {self.provider.name} service answered 404 for llm.model = {self.cfg.model!r} ({message}). "
            "Set llm.model in config.yaml to a model it serves (and check llm.base_url), then restart. "
            "LLM calls are off until then; the offline generators carry on."), key="llm:model_not_found"))

    def describe(self) -> dict[str, Any]:
        return {"provider": self.provider.name, "model": self.cfg.model, "calls": self.calls,
                "cache_hits": self.cache.hits, "breaker": self.breaker.state, "failures": dict(self.failures),
                "halted": self.halted, "rate_limit_wait_s": round(max(self.not_before - self._mono(), 0.0), 1),
                "schema_tiers": {name: TIERS[i] for name, i in self.tiers.items()},
                "budget": self.budget.describe()}
