"""Any OpenAI-compatible ``/v1/chat/completions`` server (Ollama, llama.cpp server, vLLM, OpenAI).

``llm.base_url`` ends at ``/v1``; the request is ``POST {base_url}/chat/completions`` with a system
and a user message, ``max_tokens`` and JSON mode (``response_format`` ``json_schema`` with our
schema, or ``json_object`` when the schema tier is ``none``). A bearer key is sent only when
``LLM_API_KEY`` is set: a local model needs none. Every failure becomes a :class:`ProviderError`:
429 with its ``Retry-After``, 404 (the model, or a wrong base URL), a 400 about the schema; a body
that is not a chat completion is a ``transport`` error, never an exception of another type.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from ai_brain.llm.provider import Completion, Finish, ProviderError, Request
from ai_brain.llm.schema import is_schema_refusal
from src.config.brain import LLMConfig

_FINISH: dict[str, Finish] = {"stop": "stop", "length": "max_tokens", "content_filter": "blocked"}


def retry_after_s(headers: Any) -> float | None:
    """``Retry-After`` in delay-seconds (RFC 9110 §10.2.3), or ``retry-after-ms`` as some servers send."""
    for name, scale in (("retry-after-ms", 0.001), ("Retry-After", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(float(raw) * scale, 0.0)
        except ValueError:
            continue  # an HTTP-date: fall back to our own backoff
    return None


def _error_message(body: str) -> str:
    try:
        err = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return body[:200]
    if isinstance(err, dict):
        return str(err.get("message") or err)[:300]
    return str(err)[:300]


def _from_status(status: int, body: str, headers: Any) -> ProviderError:
    message = _error_message(body)
    label = f"HTTP {status}: {message}"
    if status == 429:
        return ProviderError("rate_limited", label, transient=True, retry_after_s=retry_after_s(headers))
    if status == 404:
        return ProviderError("model_not_found", label)
    if is_schema_refusal(status, message):
        return ProviderError("schema_refused", label)
    return ProviderError("transport", label, transient=status >= 500 or status == 408)


def _completion(payload: Any) -> Completion:
    """Read a chat.completion object; anything else is a transport error."""
    try:
        choice = payload["choices"][0]
        text = choice["message"].get("content")
        usage = payload.get("usage") or {}
        details = usage.get("completion_tokens_details") or {}
        reasoning = int(details.get("reasoning_tokens") or 0)
        finish = str(choice.get("finish_reason") or "stop")
        return Completion(text=text if isinstance(text, str) else None, finish=_FINISH.get(finish, "other"),
                          detail=finish, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                          output_tokens=max(int(usage.get("completion_tokens") or 0) - reasoning, 0),
                          thinking_tokens=reasoning)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        raise ProviderError("transport", f"not a chat completion: {str(payload)[:200]}") from None


def response_format(req: Request) -> dict[str, Any]:
    if req.json_schema is None:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": req.schema_name, "schema": req.json_schema,
                                                   "strict": False}}


class OpenAICompatibleProvider:
    """One model on an OpenAI-compatible server; the aiohttp session opens on first use."""

    name = "openai_compatible"

    def __init__(self, cfg: LLMConfig, api_key: str = "") -> None:
        self.cfg, self._key = cfg, api_key
        self.url = f"{(cfg.base_url or '').rstrip('/')}/chat/completions"
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
            self._session = aiohttp.ClientSession(headers=headers,
                                                  timeout=aiohttp.ClientTimeout(total=self.cfg.timeout_s))
        return self._session

    def _body(self, req: Request) -> dict[str, Any]:
        return {"model": self.cfg.model, "temperature": req.temperature, "max_tokens": req.max_output_tokens,
                "stream": False, "response_format": response_format(req),
                "messages": [{"role": "system", "content": req.system}, {"role": "user", "content": req.prompt}]}

    async def complete(self, request: Request) -> Completion:
        try:
            async with self._client().post(self.url, json=self._body(request)) as resp:
                body = await resp.text()
                if resp.status != 200:
                    raise _from_status(resp.status, body, resp.headers)
        except TimeoutError:
            raise ProviderError("timeout", f"no answer within {self.cfg.timeout_s:.1f} s") from None
        except aiohttp.ClientError as exc:
            raise ProviderError("transport", f"{type(exc).__name__}: {str(exc)[:200]}",
                                transient=isinstance(exc, aiohttp.ClientConnectionError)) from None
        try:
            payload = json.loads(body)
        except ValueError:
            raise ProviderError("transport", f"not JSON: {body[:200]!r}") from None
        return _completion(payload)

