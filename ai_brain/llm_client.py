"""The one way the bot talks to Gemini: async google-genai client behind cache, budget and breaker.

A call either returns a schema-valid answer or raises an :class:`LLMError` whose message says
why (refused by the breaker or the budget, timed out, transport failure, unusable output).
Only transient failures are retried (5xx, 429/408, connection errors) and the SDK's own hidden
retry is switched off (``HttpRetryOptions(attempts=1)``) so the timeout means what it says. A
slow model never delays trading: callers run in the brain's cycle task, never in the feed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from ai_brain.llm_governance import CachedAnswer, CircuitBreaker, ResponseCache, TokenBudget, prompt_key
from src.config.brain import LLMConfig

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


class LLMError(Exception):
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


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: server errors, rate limits, request timeouts reported by the server, network."""
    if isinstance(exc, genai_errors.ServerError):
        return True
    if isinstance(exc, genai_errors.ClientError):
        return getattr(exc, "code", None) in (408, 429)
    return isinstance(exc, aiohttp.ClientConnectionError)


_DROP_KEYS = frozenset({"title", "default", "additionalProperties"})


def _plain(node: Any, defs: dict[str, Any]) -> Any:
    """Inline ``$ref``s and turn exclusive bounds into inclusive ones (our own validation keeps
    them strict): a self-contained schema any structured-output endpoint accepts."""
    if isinstance(node, list):
        return [_plain(v, defs) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _plain(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS or key == "$defs":
            continue
        if key in ("exclusiveMinimum", "exclusiveMaximum"):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
        elif key == "properties":
            out[key] = {name: _plain(v, defs) for name, v in value.items()}
        else:
            out[key] = _plain(value, defs)
    return out


def json_schema_for(schema: type[BaseModel]) -> dict[str, Any]:
    """The response schema sent to the model, derived from the pydantic model."""
    raw = schema.model_json_schema()
    return _plain(raw, raw.get("$defs", {}))


def parse_answer(text: str | None, schema: type[M]) -> M:
    """Validate the raw answer ourselves, so a rejection carries the reason (the SDK's ``parsed``
    is silently None on any mismatch)."""
    if not text:
        raise LLMError("empty", "empty answer (blocked or no candidates)")
    try:
        return schema.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "<root>"
        kind = "malformed" if first.get("type") == "json_invalid" else "schema"
        raise LLMError(kind, f"answer fails the schema at {where}: {first.get('msg')}") from None


class GeminiGateway:
    """Governed access to one Gemini model; create once, ``await close()`` at shutdown."""

    def __init__(self, cfg: LLMConfig, api_key: str, cache: ResponseCache, budget: TokenBudget,
                 breaker: CircuitBreaker) -> None:
        self.cfg, self.cache, self.budget, self.breaker = cfg, cache, budget, breaker
        opts = types.HttpOptions(base_url=cfg.base_url, api_version=cfg.api_version,
                                 timeout=int(cfg.timeout_s * 1000),
                                 retry_options=types.HttpRetryOptions(attempts=1))
        self._client = genai.Client(api_key=api_key, http_options=opts)
        self.failures: dict[str, int] = {}
        self.calls = 0

    async def close(self) -> None:
        await self._client.aio.aclose()

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
        if not self.breaker.allow():
            raise self._fail("breaker_open", f"circuit breaker open after {self.breaker.failures} failures")
        problem = self.budget.allows(len(prompt) // 4 + self.cfg.max_output_tokens)
        if problem:
            raise self._fail("budget", problem)
        response = await self._call(system, prompt, schema, temperature)
        usage = response.usage_metadata
        p_tok = int(getattr(usage, "prompt_token_count", 0) or 0)
        o_tok = int(getattr(usage, "candidates_token_count", 0) or 0)
        self.budget.charge(p_tok, o_tok)
        text = response.text
        self.cache.put(CachedAnswer(key=key, model=self.cfg.model, system=system, prompt=prompt,
                                    temperature=temperature, response_text=text, prompt_tokens=p_tok,
                                    output_tokens=o_tok, created_at=datetime.now(UTC).isoformat()))
        try:
            parsed = self._parse(text, schema)
        except LLMError:
            self.breaker.failure()
            raise
        self.breaker.success()
        return LLMAnswer(parsed, text or "", key, False)

    def _parse(self, text: str | None, schema: type[M]) -> M:
        try:
            return parse_answer(text, schema)
        except LLMError as exc:
            raise self._fail(exc.kind, str(exc)) from None

    async def _call(self, system: str, prompt: str, schema: type[BaseModel], temperature: float) -> Any:
        config = types.GenerateContentConfig(system_instruction=system, temperature=temperature,
                                             response_mime_type="application/json",
                                             response_json_schema=json_schema_for(schema),
                                             max_output_tokens=self.cfg.max_output_tokens)
        retry = AsyncRetrying(stop=stop_after_attempt(self.cfg.retries + 1), reraise=True,
                              wait=wait_exponential(multiplier=self.cfg.retry_initial_s, max=self.cfg.retry_max_s),
                              retry=retry_if_exception(is_transient))
        started = time.monotonic()
        try:
            async for attempt in retry:
                with attempt:
                    self.calls += 1
                    response = await asyncio.wait_for(
                        self._client.aio.models.generate_content(model=self.cfg.model, contents=prompt,
                                                                 config=config),
                        self.cfg.timeout_s + 1.0)
        except TimeoutError:
            self.breaker.failure()
            raise self._fail("timeout", f"no answer within {self.cfg.timeout_s:.1f} s") from None
        except (genai_errors.APIError, aiohttp.ClientError) as exc:
            self.breaker.failure()
            raise self._fail("transport", f"{type(exc).__name__}: {str(exc)[:200]}") from None
        log.info("LLM answered in %.2f s", time.monotonic() - started)
        return response

    def describe(self) -> dict[str, Any]:
        return {"model": self.cfg.model, "calls": self.calls, "cache_hits": self.cache.hits,
                "breaker": self.breaker.state, "failures": dict(self.failures), "budget": self.budget.describe()}
