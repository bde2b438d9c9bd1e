"""A loopback fake of the Gemini ``generateContent`` endpoint for the real google-genai client.

Tests queue behaviours — a JSON text answer, an HTTP error, a hang, an empty (blocked) answer —
and read back every request the client sent (path, headers, body). Unqueued calls get the
``default`` behaviour. The runner uses ``handler_cancellation`` so a hanging handler never
delays shutdown.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import catch_all, serve


@dataclass
class Reply:
    """One behaviour: ``text`` as the model's answer, or an HTTP ``status`` with ``body``, or a hang."""

    text: str | None = None
    status: int = 200
    body: Any = None
    hang_s: float = 0.0
    prompt_tokens: int = 120
    output_tokens: int = 80


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeGemini:
    """Start with ``await fake.start()``; ``fake.base_url`` goes into ``llm.base_url``."""

    replies: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=lambda: Reply(status=500, body={"error": {
        "code": 500, "message": "no reply queued", "status": "INTERNAL"}}))
    requests: list[Seen] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def queue_json(self, payload: Any, **kw: Any) -> None:
        self.queue(Reply(text=json.dumps(payload), **kw))

    async def start(self) -> str:
        self._runner, self.base_url, _port = await serve(catch_all(self._handle))
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        self.requests.append(Seen(request.method, request.path, dict(request.headers), body))
        reply = self.replies.popleft() if self.replies else self.default
        if reply.hang_s:
            await asyncio.sleep(reply.hang_s)
        if reply.status != 200:
            return web.json_response(reply.body, status=reply.status)
        if reply.body is not None:
            return web.json_response(reply.body)
        return web.json_response(_answer(reply))

    @property
    def generate_calls(self) -> int:
        return sum(1 for r in self.requests if r.path.endswith(":generateContent"))


def _answer(reply: Reply) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"parts": [{"text": reply.text or ""}], "role": "model"},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": reply.prompt_tokens, "candidatesTokenCount": reply.output_tokens,
                          "totalTokenCount": reply.prompt_tokens + reply.output_tokens},
        "modelVersion": "fake-gemini",
    }
