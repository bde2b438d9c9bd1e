"""Commands as files: scripts drop JSON into ``state/inbox/``, the bot executes and answers in ``outbox/``.

The bot is the single writer of ``state/``. A script that wants something done writes one command
file atomically (temp + rename, so the bot never reads half a command); the bot validates it,
runs the registered handler, writes the result to ``state/outbox/<id>.json`` and only then
deletes the inbox file. A command whose result already exists is not run again, so a crash
between "done" and "deleted" cannot execute it twice.

The inbox is an open door on the machine, so the processor trusts nothing it finds there (see
:mod:`src.state.inbox_files`): only regular files of bounded size are read, never through a
symlink and never in a way that could block the event loop; anything else is moved aside with an
answer saying why. Work is done in bounded batches that yield to the loop, with the file work
(reads, answer writes and their fsyncs) in a worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from src.core.events import Alert
from src.state.inbox_files import (
    GONE,
    MAX_COMMAND_BYTES,
    EntryRead,
    UnsafeInboxError,
    check_inbox_permissions,
    list_entries,
    move_aside,
    read_entry,
)
from src.state.store import SHARED_ALERTS, AlertSink, atomic_write_bytes, fsync_dir, write_model

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


@dataclass
class _Batch:
    """One bounded batch: what to answer, what to move aside, what to delete once answered."""

    answers: list[CommandResult] = field(default_factory=list)
    rejects: list[tuple[Path, str]] = field(default_factory=list)
    done: list[Path] = field(default_factory=list)


class InboxProcessor:
    """Polls ``state/inbox`` and executes commands in arrival order, in bounded batches."""

    name = "inbox"

    def __init__(self, inbox: Path, outbox: Path, registry: CommandRegistry, poll_s: float = 0.25,
                 batch_size: int = 50, max_bytes: int = MAX_COMMAND_BYTES, alert: AlertSink | None = None) -> None:
        check_inbox_permissions(inbox)
        self.inbox, self.outbox, self.registry, self.poll_s = inbox, outbox, registry, poll_s
        self.batch_size, self.max_bytes = batch_size, max_bytes
        self.rejected_dir = inbox.parent / "quarantine"
        self._alert = alert or SHARED_ALERTS
        self.processed = 0
        self.rejected = 0

    async def run(self) -> None:
        while True:
            await self.process_once()
            await asyncio.sleep(self.poll_s)

    async def process_once(self) -> int:
        """Handle every entry present now, one batch at a time; returns how many were handled."""
        entries = await asyncio.to_thread(list_entries, self.inbox)
        handled = 0
        for start in range(0, len(entries), self.batch_size):
            handled += await self._run_batch(entries[start:start + self.batch_size])
            await asyncio.sleep(0)
        return handled

    async def _run_batch(self, paths: list[Path]) -> int:
        reads = await asyncio.to_thread(self._read_batch, paths)
        batch = _Batch()
        finishing: concurrent.futures.Future[None] | None = None
        try:
            for entry, cmd, answered in reads:
                if cmd is None:
                    batch.rejects.append((entry.path, entry.problem))
                elif answered:
                    batch.done.append(entry.path)  # ran before a crash: only the deletion was missing
                else:
                    batch.answers.append(await self._execute(cmd))
                    batch.done.append(entry.path)
                    await asyncio.sleep(0)  # a burst of commands never holds the loop for long
            finishing = concurrent.futures.Future()
            threading.Thread(target=_complete, args=(finishing, self._finish_batch, batch), daemon=False).start()
            await asyncio.wrap_future(finishing)
        except asyncio.CancelledError:
            # A stop command (or SIGTERM) cancelled us: the answers of what already ran are written
            # before we go, or the script that sent the stop waits for an answer that never comes.
            if finishing is None:
                self._finish_batch(batch)
            else:
                finishing.result(timeout=10)
            raise
        self._report_rejects(batch.rejects)
        return len(batch.done) + len(batch.rejects)

    def _read_batch(self, paths: list[Path]) -> list[tuple[EntryRead, InboxCommand | None, bool]]:
        """Worker thread: read and validate each entry; the vanished ones are dropped."""
        out: list[tuple[EntryRead, InboxCommand | None, bool]] = []
        for path in paths:
            entry = read_entry(path, self.max_bytes)
            if entry.problem == GONE:
                continue
            cmd, problem = _parse(entry)
            if cmd is None:
                out.append((EntryRead(path, None, problem), None, False))
            else:
                out.append((entry, cmd, (self.outbox / f"{cmd.id}.json").exists()))
        return out

    async def _execute(self, cmd: InboxCommand) -> CommandResult:
        ok, message, data = await self.registry.execute(cmd.name, cmd.args, f"script:{cmd.actor}")
        log.info("command %s (%s) from %s: %s", cmd.name, cmd.id, cmd.actor, message)
        self.processed += 1
        return CommandResult(id=cmd.id, name=cmd.name, ok=ok, message=message, data=data, finished_at=time.time())

    def _finish_batch(self, batch: _Batch) -> None:
        """Worker thread: answers durable first (one folder fsync per batch), then the inbox entries go."""
        for result in batch.answers:
            atomic_write_bytes((self.outbox / f"{result.id}.json"),
                               (result.model_dump_json(indent=2) + "\n").encode(), sync_dir=False)
        for path, problem in batch.rejects:
            self._reject(path, problem)
        if batch.answers or batch.rejects:
            fsync_dir(self.outbox)
        for path in batch.done:
            path.unlink(missing_ok=True)
        if batch.done or batch.rejects:
            fsync_dir(self.inbox)

    def _reject(self, path: Path, problem: str) -> None:
        """Move a bad entry aside and answer under its file name, so a waiting script learns why."""
        self.rejected += 1
        try:
            moved = move_aside(path, self.rejected_dir)
        except FileNotFoundError:
            return
        log.error("inbox entry %s rejected (%s); moved to %s", path.name, problem, moved)
        answer_id = _answer_id(path.name)
        target = self.outbox / f"{answer_id}.json"
        if not os.path.lexists(target):
            result = CommandResult(id=answer_id, name="rejected", ok=False, finished_at=time.time(),
                                   message=f"rejected: {problem}; moved to {moved}")
            atomic_write_bytes(target, (result.model_dump_json(indent=2) + "\n").encode(), sync_dir=False)

    def _report_rejects(self, rejects: list[tuple[Path, str]]) -> None:
        if rejects:
            names = ", ".join(p.name for p, _ in rejects[:5]) + (" ..." if len(rejects) > 5 else "")
            self._alert(Alert("warning", "Inbox entries rejected", f"{len(rejects)} bad entr(y/ies) moved to "
                              f"{self.rejected_dir}: {names} ({rejects[0][1]})", key="inbox-rejected"))


def _parse(entry: EntryRead) -> tuple[InboxCommand | None, str]:
    if entry.raw is None:
        return None, entry.problem
    try:
        return InboxCommand.model_validate_json(entry.raw), ""
    except (ValidationError, ValueError) as exc:
        return None, f"bad command file: {str(exc).splitlines()[0]}"


def _complete(future: concurrent.futures.Future[None], work: Callable[[_Batch], None], batch: _Batch) -> None:
    """Run ``work(batch)`` in this thread and settle ``future`` (a shutdown can wait on it)."""
    try:
        work(batch)
    except BaseException as exc:  # handed to the awaiting side, which re-raises it
        future.set_exception(exc)
    else:
        future.set_result(None)


def _answer_id(file_name: str) -> str:
    """The command id a script waits on is its file's stem; anything unsafe is replaced."""
    stem = file_name.removesuffix(".json")[:64]
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in stem) or "rejected"


__all__ = ["CommandHandler", "CommandRegistry", "CommandResult", "InboxCommand", "InboxProcessor",
           "UnsafeInboxError", "drop_command", "read_result"]
