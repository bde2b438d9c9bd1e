"""Fixtures for the deploy scripts: a loopback fake of the Telegram Bot API and a health-check URL,
and a stand-in bot process. The shell scripts run as subprocesses with substitute commands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from aiohttp import web

from tests.fakes.loopback import catch_all, serve

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


@dataclass
class HttpSink:
    """Records every request; answers like the Bot API's sendMessage (or a health-check service)."""

    base_url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    status: int = 200

    def messages(self) -> list[dict[str, str]]:
        return [form for method, path, form in self.requests if path.endswith("/sendMessage")]

    def pings(self, path: str) -> int:
        return sum(1 for _m, p, _f in self.requests if p == path)


@pytest.fixture
async def sink() -> AsyncIterator[HttpSink]:
    rec = HttpSink()

    async def handle(request: web.Request) -> web.Response:
        form = {k: v[0] for k, v in parse_qs(await request.text()).items()}
        rec.requests.append((request.method, request.path, form))
        if rec.status != 200:
            return web.json_response({"ok": False, "description": "fake outage"}, status=rec.status)
        return web.json_response({"ok": True, "result": {"message_id": len(rec.requests)}})

    runner, rec.base_url, _port = await serve(catch_all(handle))
    yield rec
    await runner.cleanup()


async def run_shell(script: str, env: dict[str, str], *args: str, timeout_s: float = 60.0) -> tuple[int, str]:
    """Run ``deploy/<script>`` with ``env`` on top of a clean PATH-only environment."""
    full = {"PATH": os.environ.get("PATH", ""), "HOME": env.get("HOME", os.environ.get("HOME", "/")),
            "NO_PROXY": "127.0.0.1,localhost", **env}
    proc = await asyncio.create_subprocess_exec("bash", str(DEPLOY / script), *args, env=full,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout_s)
    return proc.returncode or 0, out.decode()


class StandIn:
    """A process whose command line names ai_trading_lab (what the monitor looks for)."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.2)",
                                      "ai_trading_lab.py", "--root", str(root)])
        self.pid = self.proc.pid
        (root / "state").mkdir(parents=True, exist_ok=True)
        (root / "state" / "bot.pid").write_text(f"{self.pid}\n")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def stand_in() -> Iterator:
    made: list[StandIn] = []

    def make(root: Path) -> StandIn:
        s = StandIn(root)
        made.append(s)
        return s

    yield make
    for s in made:
        s.kill()
