"""Cockpit harness: the real bot wiring, the real python-telegram-bot client, a loopback fake Bot API.

``cockpit`` starts the whole control surface exactly as the entry point does — a real
:class:`Supervisor`, the shared control commands, ``add_telegram_components`` — with the token and
chat ids of the test, pointed at :class:`FakeTelegram`. Only the flood-control intervals and
timeouts are shrunk so the suite stays fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from src.app.control_commands import register_control_commands
from src.app.supervisor import Supervisor
from src.app.wire_cockpit import add_telegram_components
from src.config import parse_config
from src.config.secrets import Secrets
from src.core.bus import EventBus
from src.core.clock import Clock
from src.runtime.context import Paths
from src.state.control import Controller
from src.state.inbox import CommandRegistry
from src.state.store import StateStore
from src.telegram.bot import TelegramBot
from tests.fakes.fake_telegram import FakeTelegram, SentMessage
from tests.rig import RigContext, RigView

ADMIN, ADMIN2, VIEWER, STRANGER, GROUP = 4242, 4343, 5151, 6666, -100777
TOKEN = "123456:TEST-token"

FAST_TELEGRAM: dict[str, Any] = {
    "per_chat_interval_s": 0.02, "group_interval_s": 0.05, "global_per_second": 1000,
    "poll_timeout_s": 1, "retry_initial_s": 0.05, "retry_max_s": 0.2, "request_timeout_s": 2,
    "final_message_timeout_s": 1.5, "stranger_log_interval_s": 60, "dedupe_window_s": 60,
}


def make_ctx(root: Path, config: dict[str, Any] | None = None, telegram: dict[str, Any] | None = None,
             admins: tuple[int, ...] = (ADMIN, ADMIN2), viewers: tuple[int, ...] = (VIEWER,),
             token: str = TOKEN, groups: tuple[int, ...] = ()) -> RigContext:
    """A real AppContext on ``root`` with the shared control commands registered."""
    data = dict(config or {})
    data["telegram"] = {**FAST_TELEGRAM, **(telegram or {})}
    data.setdefault("supervisor", {"heartbeat_seconds": 0.5, "shutdown_timeout_s": 4})
    paths = Paths(root)
    paths.ensure()
    secrets = Secrets(telegram_bot_token=token, telegram_admin_ids=admins, telegram_viewer_ids=viewers,
                      telegram_notify_chat_ids=groups)
    return RigContext(config=parse_config(data), secrets=secrets, paths=paths, bus=EventBus(),
                      store=StateStore(paths.state), clock=Clock())


@dataclass
class Harness:
    """A running control surface plus helpers to talk to it through the fake API."""

    ctx: RigContext
    supervisor: Supervisor
    bot: TelegramBot | None
    fake: FakeTelegram
    task: asyncio.Task[None] | None = None
    calls: list[tuple[str, dict[str, str], str]] = field(default_factory=list)

    @property
    def control(self) -> Controller:
        return self.ctx.services["control"]

    async def ask(self, chat_id: int, text: str, timeout_s: float = 5.0, user_id: int | None = None) -> SentMessage:
        """Send ``text`` from ``chat_id`` (as ``user_id`` in a group) and return the bot's next message there."""
        before = len(self.fake.sent_to(chat_id))
        self.fake.push_command(chat_id, text, user_id)
        sent = await self.fake.wait_sent(before + 1, timeout_s, chat_id=chat_id)
        return sent[before]

    async def settle(self, timeout_s: float = 5.0) -> None:
        """Wait until every update pushed so far was processed: the answer to a /help pushed after them."""
        before = len(self.fake.sent_to(ADMIN))
        self.fake.push_command(ADMIN, "/help")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not any(m.text.startswith("Commands (") for m in self.fake.sent_to(ADMIN)[before:]):
            assert loop.time() < deadline, "the bot did not answer /help"
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.supervisor.request_stop()
            await asyncio.wait_for(self.task, timeout=10)


def registry_recorder(h: Harness, name: str, ok: bool = True,
                      message: Callable[[dict[str, str]], str] | None = None) -> None:
    """Register a stand-in for another team's shared command that records how it was called."""

    async def handler(args: dict[str, str], actor: str) -> tuple[bool, str, dict[str, Any]]:
        h.calls.append((name, dict(args), actor))
        return ok, message(args) if message else f"{name} done: {args}", {}

    h.ctx.services["commands"].register(name, handler, f"test {name}")


def wire_harness(ctx: RigContext, fake: FakeTelegram) -> Harness:
    """The entry point's wiring (control, shared commands, the cockpit) without starting anything."""
    control = Controller(ctx.store)
    registry = CommandRegistry()
    supervisor = Supervisor(ctx)
    ctx.services.update(control=control, commands=registry, supervisor=supervisor)
    register_control_commands(ctx, registry, control, supervisor)
    parts = add_telegram_components(ctx, supervisor, RigView(ctx))  # type: ignore[arg-type]
    ctx.services.update(notifier=parts.notifier, golive=parts.golive)
    return Harness(ctx, supervisor, parts.bot, fake)


async def start_harness(ctx: RigContext, fake: FakeTelegram,
                        before_start: Callable[[Harness], Awaitable[None] | None] | None = None) -> Harness:
    h = wire_harness(ctx, fake)
    if before_start is not None:
        result = before_start(h)
        if result is not None:
            await result
    h.task = asyncio.create_task(h.supervisor.run())
    return h


CockpitFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def cockpit_factory(tmp_path: Path, fake_tg: FakeTelegram) -> AsyncIterator[CockpitFactory]:
    """Build (and always stop) harnesses; kwargs go to :func:`make_ctx`."""
    started: list[Harness] = []

    async def build(root: Path | None = None, wait_started: bool = True, **kwargs: Any) -> Harness:
        before_start = kwargs.pop("before_start", None)
        telegram = {"base_url": fake_tg.base_url, **kwargs.pop("telegram", {})}
        ctx = make_ctx(root or tmp_path / "bot", telegram=telegram, **kwargs)
        seen = {chat: len(fake_tg.sent_to(chat)) for chat in (*ctx.secrets.telegram_admin_ids,
                                                              *ctx.secrets.telegram_viewer_ids,
                                                              *ctx.secrets.telegram_notify_chat_ids)}
        h = await start_harness(ctx, fake_tg, before_start)
        started.append(h)
        if wait_started and h.bot is not None:  # this bot's start-up note reached everyone: it is online
            for chat in h.bot.access.recipients("all"):
                await fake_tg.wait_sent(seen[chat] + 1, chat_id=chat)
        return h

    yield build
    for h in started:
        await h.stop()


@pytest.fixture
async def cockpit(cockpit_factory: CockpitFactory) -> Harness:
    """A running cockpit with two admins and one viewer, in replay mode."""
    return await cockpit_factory()
