"""A loopback fake of an OpenAI-compatible ``POST /v1/chat/completions`` (OpenAI, Ollama, llama.cpp).

Tests queue behaviours (an answer, an HTTP error, a hang, a raw body) and read back every request.
Rules applied to every call, each citing the OpenAI API reference
(https://platform.openai.com/docs/api-reference/chat/create and
https://platform.openai.com/docs/guides/error-codes), which Ollama
(https://github.com/ollama/ollama/blob/main/docs/openai.md) and llama.cpp's server follow:
an unknown model is a 404, a wrong bearer key a 401, ``max_tokens`` cuts the answer with
``finish_reason: "length"``; every error uses the ``{"error": {message, type, param, code}}`` envelope.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import ScriptedServer, Seen


def error_body(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """The OpenAI error envelope (https://platform.openai.com/docs/guides/error-codes#api-errors)."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass
class Reply:
    """``text`` as the assistant message, or an HTTP ``status`` with ``body``, or a hang, or ``raw`` bytes."""

    text: str | None = None
    status: int = 200
    body: Any = None
    raw: str | None = None
    hang_s: float = 0.0
    prompt_tokens: int = 150
    output_tokens: int = 90
    reasoning_tokens: int = 0
    headers: dict[str, str] = field(default_factory=dict)


def rate_limited(retry_after_s: int) -> Reply:
    """429 "Rate limit reached for requests" (https://platform.openai.com/docs/guides/error-codes, 429)
    with a ``Retry-After`` header in delay-seconds (RFC 9110 §10.2.3; the official openai-python
    client waits for it before its next attempt)."""
    return Reply(status=429, headers={"Retry-After": str(retry_after_s)}, body=error_body(
        "Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"))


@dataclass
class FakeOpenAI(ScriptedServer):
    """Start with ``await fake.start()``; ``fake.base_url + "/v1"`` goes into ``llm.base_url``."""

    reply_type = Reply
    replies: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=lambda: Reply(status=500, body=error_body(
        "no reply queued", "server_error", None)))
    requests: list[Seen] = field(default_factory=list)
    models: frozenset[str] = frozenset({"qwen2.5:7b-instruct", "llama3.1:8b"})
    api_key: str | None = None  # None: no key needed, as a local Ollama / llama.cpp server
    base_url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def chat_calls(self) -> int:
        return sum(1 for r in self.requests if r.path == "/v1/chat/completions")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        self.requests.append(Seen(request.method, request.path, dict(request.headers), body))
        refusal = self._refusal(request, body)
        if refusal is not None:
            return refusal
        reply = self.replies.popleft() if self.replies else self.default
        if reply.hang_s:
            await asyncio.sleep(reply.hang_s)
        if reply.raw is not None:
            return web.Response(text=reply.raw, status=reply.status, content_type="text/plain")
        if reply.status != 200 or reply.body is not None:
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        return web.json_response(_completion(reply, body))

    def _refusal(self, request: web.Request, body: dict[str, Any]) -> web.Response | None:
        if request.method != "POST" or request.path != "/v1/chat/completions":
            return web.json_response(error_body(f"Invalid URL ({request.method} {request.path})",
                                                "invalid_request_error", None), status=404)
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            # 401 "Invalid Authentication" (error-codes guide); the key travels as a bearer token
            # (https://platform.openai.com/docs/api-reference/authentication).
            return web.json_response(error_body("Incorrect API key provided.", "invalid_request_error",
                                                "invalid_api_key"), status=401)
        model = body.get("model")
        if model not in self.models:
            # 404 "The model does not exist or you do not have access to it" (error-codes guide).
            return web.json_response(error_body(f"The model `{model}` does not exist or you do not have access "
                                                "to it.", "invalid_request_error", "model_not_found"), status=404)
        return None


def _completion(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion object (https://platform.openai.com/docs/api-reference/chat/object).
    ``max_tokens`` bounds the generated tokens, reasoning included; a cut answer ends with
    ``finish_reason: "length"``. ``usage.completion_tokens`` already includes
    ``completion_tokens_details.reasoning_tokens``."""
    cap = body.get("max_completion_tokens") or body.get("max_tokens")
    text, out, finish = reply.text or "", reply.output_tokens + reply.reasoning_tokens, "stop"
    if cap is not None and out > cap:
        room = max(cap - reply.reasoning_tokens, 0)
        text, out, finish = text[: len(text) * room // max(reply.output_tokens, 1)], cap, "length"
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"), "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": out,
                      "total_tokens": reply.prompt_tokens + out,
                      "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens}}}
