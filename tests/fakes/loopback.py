"""Start an aiohttp app on 127.0.0.1 with an ephemeral port: the one way every fake server starts.

``handler_cancellation=True`` matters: a fake that simulates a hang would otherwise keep the
runner's cleanup waiting for the full hang (measured: ~10 s per test).
"""

from __future__ import annotations

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
