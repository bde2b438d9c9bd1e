"""A loopback fake of the Gemini ``generateContent`` endpoint for the real google-genai client.

Tests queue behaviours — a JSON text answer, an HTTP error, a hang, an empty (blocked) answer —
and read back every request the client sent (path, headers, body). Unqueued calls get the
``default`` behaviour. The runner uses ``handler_cancellation`` so a hanging handler never
delays shutdown.

Rules the fake applies to every call, as the real service does (sources cited at each rule):
an unknown model is a 404, a response schema over ``schema_limit_bytes`` is a 400, and 2.5-series
models think out of ``maxOutputTokens`` (which can leave an empty MAX_TOKENS answer).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import ScriptedServer
from tests.fakes.loopback import Seen as BaseSeen

# Models the fake serves; any other name is a 404 (see _not_found).
KNOWN_MODELS = frozenset({"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", "gemini-2.0-flash"})
# Gemini publishes no number for schema complexity, only "The API may reject very large or deeply
# nested schemas" (https://ai.google.dev/gemini-api/docs/structured-output, "Limitations"). The fake
# draws the line at 12 KiB of compact JSON: the 16.8 KiB inlined LLMProposal schema of earlier
# releases is refused, as the service refused it.
SCHEMA_LIMIT_BYTES = 12_288
# maxOutputTokens when the request sets none: 65,536 for the 2.5 models
# (https://ai.google.dev/gemini-api/docs/models, "Output token limit").
DEFAULT_MAX_OUTPUT = 65_536


@dataclass
class Reply:
    """One behaviour: ``text`` as the model's answer, or an HTTP ``status`` with ``body``, or a hang.

    ``output_tokens`` is the length of the whole answer; ``thinking_tokens`` how long a 2.5 model
    would think if its budget allowed it (dynamic thinking when the request sets no budget).
    """

    text: str | None = None
    status: int = 200
    body: Any = None
    hang_s: float = 0.0
    prompt_tokens: int = 120
    output_tokens: int = 80
    thinking_tokens: int = 0
    headers: dict[str, str] = field(default_factory=dict)


def error_body(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The error envelope of Google APIs: ``{"error": {code, message, status, details}}``
    (https://ai.google.dev/api/rest/v1beta/Status; google-genai ``errors.APIError`` reads ``code``,
    ``status`` and ``message`` from it and keeps the whole body as ``details``)."""
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return {"error": err}


def rate_limited(delay_s: float) -> Reply:
    """A 429 RESOURCE_EXHAUSTED carrying a ``google.rpc.RetryInfo`` detail, the shape the Gemini API
    sends when a quota is exceeded (https://ai.google.dev/gemini-api/docs/troubleshooting: 429
    RESOURCE_EXHAUSTED; https://ai.google.dev/gemini-api/docs/rate-limits). ``retryDelay`` is a
    protobuf Duration, which JSON encodes as seconds with an ``s`` suffix, e.g. ``"37s"``
    (https://protobuf.dev/programming-guides/json/, google/rpc/error_details.proto ``RetryInfo``)."""
    delay = f"{delay_s:g}s"
    return Reply(status=429, body=error_body(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please "
                                             f"check your plan and billing details. Please retry in {delay}.", [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                         "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]))


@dataclass
class Seen(BaseSeen):
    """A request, plus the response schema it asked for."""

    @property
    def schema(self) -> Any:
        gen = self.body.get("generationConfig", {})
        found = _field(gen, "responseJsonSchema")
        return found if found is not None else _field(gen, "responseSchema")


@dataclass
class FakeGemini(ScriptedServer):
    """Start with ``await fake.start()``; ``fake.base_url`` goes into ``llm.base_url``."""

    reply_type = Reply
    replies: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=lambda: Reply(status=500, body=error_body(
        500, "INTERNAL", "no reply queued")))
    requests: list[Seen] = field(default_factory=list)
    models: frozenset[str] = KNOWN_MODELS
    schema_limit_bytes: int = SCHEMA_LIMIT_BYTES
    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        seen = Seen(request.method, request.path, dict(request.headers), body)
        self.requests.append(seen)
        refusal = self._not_found(request.path) or self._schema_refused(seen)
        if refusal is not None:
            return refusal
        reply = self.replies.popleft() if self.replies else self.default
        if reply.hang_s:
            await asyncio.sleep(reply.hang_s)
        if reply.status != 200:
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        if reply.body is not None:
            return web.json_response(reply.body)
        return web.json_response(_answer(reply, _model_of(request.path), body.get("generationConfig", {})))

    def _not_found(self, path: str) -> web.Response | None:
        """An unknown model is 404 NOT_FOUND with this message (https://ai.google.dev/gemini-api/docs/
        troubleshooting: "404 NOT_FOUND The requested resource wasn't found")."""
        model = _model_of(path)
        if model is None or model in self.models:
            return None
        version = path.strip("/").split("/")[0]
        return web.json_response(error_body(404, "NOT_FOUND", f"models/{model} is not found for API version "
                                            f"{version}, or is not supported for generateContent. Call ListModels "
                                            "to see the list of available models and their supported methods."),
                                 status=404)

    def _schema_refused(self, seen: Seen) -> web.Response | None:
        """A schema too large for the constrained decoder is 400 INVALID_ARGUMENT, with the message the
        service gives ("The specified schema produces a constraint that has too many states for
        serving"; https://ai.google.dev/gemini-api/docs/structured-output, "Limitations")."""
        schema = seen.schema
        if schema is None or schema_bytes(schema) <= self.schema_limit_bytes:
            return None
        return web.json_response(error_body(400, "INVALID_ARGUMENT", "The specified schema produces a constraint "
                                            "that has too many states for serving. Typical causes of this error "
                                            "are schemas with lots of text (for example, very long property or "
                                            "enum names), schemas with long array length limits (especially when "
                                            "nested), or schemas using complex value matchers (for example, "
                                            "integers or numbers with minimum/maximum bounds or strings with "
                                            "complex formats like date-time)"), status=400)

    @property
    def generate_calls(self) -> int:
        return sum(1 for r in self.requests if r.path.endswith(":generateContent"))


def schema_bytes(schema: Any) -> int:
    """Size of a schema as compact JSON: the measure the fake's limit uses."""
    return len(json.dumps(schema, separators=(",", ":")))


def _model_of(path: str) -> str | None:
    found = re.search(r"/models/([^/:]+):generateContent$", path)
    return found.group(1) if found else None


def _field(obj: dict[str, Any], camel: str) -> Any:
    """A request field by its JSON name or its proto name: proto3 JSON parsers accept both
    lowerCamelCase and the original snake_case (https://protobuf.dev/programming-guides/json/), and
    google-genai sends ``thinkingConfig`` with a snake_case ``thinking_budget`` inside
    (``_common.convert_to_dict`` dumps nested models without converting keys)."""
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return obj.get(camel, obj.get(snake))


def _thinks(model: str | None) -> bool:
    """The 2.5 series are thinking models, on by default (https://ai.google.dev/gemini-api/docs/thinking)."""
    return model is not None and model.startswith("gemini-2.5")


def _thoughts(reply: Reply, model: str | None, gen: dict[str, Any]) -> int:
    """Thinking tokens spent: ``thinkingConfig.thinkingBudget`` caps them, -1 or no budget means dynamic
    thinking (https://ai.google.dev/gemini-api/docs/thinking, "Thinking budgets")."""
    if not _thinks(model):
        return 0
    budget = _field(_field(gen, "thinkingConfig") or {}, "thinkingBudget")
    if budget is None or budget < 0:
        return reply.thinking_tokens
    return min(reply.thinking_tokens, budget)


def _answer(reply: Reply, model: str | None, gen: dict[str, Any]) -> dict[str, Any]:
    """A generateContent response. Thinking is paid out of ``maxOutputTokens`` first; when what is
    left cannot hold the answer it is cut, ``finishReason`` is MAX_TOKENS, and when nothing is left
    the candidate's content carries no parts at all (https://ai.google.dev/api/generate-content
    #FinishReason: "MAX_TOKENS: The maximum number of tokens as specified in the request was
    reached"; thinking tokens are reported in ``usageMetadata.thoughtsTokenCount`` and billed as
    output, https://ai.google.dev/gemini-api/docs/thinking#pricing)."""
    cap = int(_field(gen, "maxOutputTokens") or DEFAULT_MAX_OUTPUT)
    thoughts = min(_thoughts(reply, model, gen), cap)
    room = cap - thoughts
    text, answer_tokens, finish = reply.text or "", reply.output_tokens, "STOP"
    if answer_tokens > room:
        text, answer_tokens, finish = text[: len(text) * room // max(answer_tokens, 1)], room, "MAX_TOKENS"
    content: dict[str, Any] = {"role": "model"}
    if text or finish == "STOP":
        content["parts"] = [{"text": text}]
    usage: dict[str, Any] = {"promptTokenCount": reply.prompt_tokens,
                             "totalTokenCount": reply.prompt_tokens + answer_tokens + thoughts}
    if answer_tokens:
        usage["candidatesTokenCount"] = answer_tokens
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return {"candidates": [{"content": content, "finishReason": finish, "index": 0}],
            "usageMetadata": usage, "modelVersion": model or "fake-gemini"}
