"""Commands as files: scripts drop JSON into ``state/inbox/``, the bot executes and answers in ``outbox/``.

The bot is the single writer of ``state/``. A script that wants something done writes one command
file atomically (temp + rename, so the bot never reads half a command); the bot validates it,
runs the registered handler, writes the result to ``state/outbox/<id>.json`` and only then
deletes the inbox file. A command whose result already exists is not run again, so a crash
between "done" and "deleted" cannot execute it twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from src.state.store import quarantine, write_model

log = logging.getLogger(__name__)


class InboxCommand(BaseModel):
    """A command file as written by a script."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")
    args: dict[str, str] = Field(default_factory=dict)
    actor: str = Field("script", max_length=80)
    created_at: float = 0.0


class CommandResult(BaseModel):
    """The bot's answer, written to ``outbox/<id>.json``."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    ok: bool
    message: str
    data: dict[str, Any] = Field(default_factory=dict)
    finished_at: float


def drop_command(inbox: Path, name: str, args: dict[str, str] | None = None, actor: str = "script") -> str:
    """Used by scripts: write a command file atomically and return its id."""
    cmd = InboxCommand(id=f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}", name=name, args=args or {},
                       actor=actor, created_at=time.time())
    write_model(inbox / f"{cmd.id}.json", cmd)
    return cmd.id


def read_result(outbox: Path, command_id: str) -> CommandResult | None:
    """Used by scripts: the result of a command, or None while it is pending."""
    path = outbox / f"{command_id}.json"
    try:
        return CommandResult.model_validate_json(path.read_bytes())
    except (FileNotFoundError, ValidationError, ValueError):
        return None


async def wait_result(outbox: Path, command_id: str, timeout_s: float) -> CommandResult | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        res = read_result(outbox, command_id)
        if res is not None:
            return res
        await asyncio.sleep(0.1)
    return None


CommandHandler = Callable[[dict[str, str], str], Awaitable[tuple[bool, str, dict[str, Any]]]]


class CommandRegistry:
    """Name → handler; handlers return ``(ok, message, data)``. Telegram and the inbox share it."""

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[CommandHandler, str]] = {}

    def register(self, name: str, handler: CommandHandler, help_text: str = "") -> None:
        self._handlers[name] = (handler, help_text)

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def help(self) -> dict[str, str]:
        return {n: h for n, (_, h) in sorted(self._handlers.items())}

    async def execute(self, name: str, args: dict[str, str], actor: str) -> tuple[bool, str, dict[str, Any]]:
        entry = self._handlers.get(name)
        if entry is None:
            return False, f"unknown command '{name}'; known: {', '.join(self.names())}", {}
        try:
            return await entry[0](args, actor)
        except Exception as exc:
            log.exception("command %s from %s failed", name, actor)
            return False, f"command {name} failed: {exc}", {}


class InboxProcessor:
    """Polls ``state/inbox`` and executes commands in arrival order."""

    name = "inbox"

    def __init__(self, inbox: Path, outbox: Path, registry: CommandRegistry, poll_s: float = 0.25) -> None:
        self.inbox, self.outbox, self.registry, self.poll_s = inbox, outbox, registry, poll_s
        self.processed = 0
        self.rejected = 0

    async def run(self) -> None:
        while True:
            await self.process_once()
            await asyncio.sleep(self.poll_s)

    async def process_once(self) -> int:
        done = 0
        for path in sorted(self.inbox.glob("*.json")):
            await self._handle(path)
            done += 1
        return done

    async def _handle(self, path: Path) -> None:
        try:
            cmd = InboxCommand.model_validate_json(path.read_bytes())
        except (ValidationError, ValueError) as exc:
            self.rejected += 1
            quarantine(path, self.inbox.parent / "quarantine", f"bad command file: {str(exc).splitlines()[0]}")
            return
        result_path = self.outbox / f"{cmd.id}.json"
        if not result_path.exists():
            ok, message, data = await self.registry.execute(cmd.name, cmd.args, f"script:{cmd.actor}")
            result = CommandResult(id=cmd.id, name=cmd.name, ok=ok, message=message, data=data,
                                   finished_at=time.time())
            write_model(result_path, result)
            log.info("command %s (%s) from %s: %s", cmd.name, cmd.id, cmd.actor, message)
            self.processed += 1
        path.unlink(missing_ok=True)

