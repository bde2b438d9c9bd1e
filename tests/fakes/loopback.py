"""Start an aiohttp app on 127.0.0.1 with an ephemeral port: the one way every fake server starts.

``handler_cancellation=True`` matters: a fake that simulates a hang would otherwise keep the
runner's cleanup waiting for the full hang (measured: ~10 s per test).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web


async def serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str, int]:
    """Start ``app`` on loopback; returns the runner (call ``cleanup()``), its base URL and port."""
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{bound}", bound


def catch_all(handler) -> web.Application:
    """An app that routes every method and path to ``handler`` (fakes record and dispatch)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


@dataclass
class Seen:
    """One request a fake received, for the test to inspect."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ScriptedServer:
    """Mixin for fakes that answer from a queue of scripted replies (the LLM APIs).

    The fake provides ``replies`` (a deque), ``reply_type`` (its Reply class), ``base_url``,
    ``_runner`` and ``_handle(request)``; this adds queueing and the loopback server's life cycle.
    """

    reply_type: Any
    replies: Any
    base_url: str
    _runner: web.AppRunner | None

    def queue(self, *replies: Any) -> None:
        self.replies.extend(replies)

    def queue_json(self, payload: Any, **kw: Any) -> None:
        """Queue one successful answer whose text is ``payload`` as JSON."""
        self.queue(self.reply_type(text=json.dumps(payload), **kw))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def start(self) -> str:
        self._runner, self.base_url, _port = await serve(catch_all(self._handle))
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
