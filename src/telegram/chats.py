"""What Telegram itself told us about our chats: groups that became supergroups, chats that refuse us.

Telegram announces a group's upgrade to a supergroup only once (a 400 with ``migrate_to_chat_id``
or a service message); after a restart the configured id would be wrong again, so the new id is
kept in ``state/telegram_chats.json`` (atomic write, schema-checked read) and every id is looked up
through :meth:`ChatBook.resolve`. A chat that answers 403 (the person blocked the bot, the bot was
removed from the group) is marked dead so nobody retries it until it writes to the bot again.
The changing methods only touch memory; :meth:`ChatBook.persist` writes in a worker thread, one
write at a time and in call order, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from src.state.store import read_model, write_model

log = logging.getLogger(__name__)

MAX_HOPS = 8  # a group migrates once; a longer chain is a corrupt file, never followed forever


class DeadChat(BaseModel):
    """A chat Telegram refused with 403, and why."""

    model_config = ConfigDict(extra="forbid")

    reason: str
    since: float


class ChatRecords(BaseModel):
    """``state/telegram_chats.json``: old group id → supergroup id, and chats that refuse us."""

    model_config = ConfigDict(extra="forbid")

    migrated: dict[int, int] = Field(default_factory=dict)
    dead: dict[int, DeadChat] = Field(default_factory=dict)


class ChatBook:
    """The persisted chat facts; ``path=None`` keeps them in memory (tests, no state folder)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.records = self._load()
        self._lock = asyncio.Lock()

    def resolve(self, chat_id: int) -> int:
        """The id to use today for a chat configured (or queued) as ``chat_id``."""
        for _ in range(MAX_HOPS):
            nxt = self.records.migrated.get(chat_id)
            if nxt is None or nxt == chat_id:
                return chat_id
            chat_id = nxt
        return chat_id

    def is_dead(self, chat_id: int) -> bool:
        return chat_id in self.records.dead

    def migrate(self, old: int, new: int) -> bool:
        """Record ``old`` → ``new``; False when it was known already (nothing to announce)."""
        if old == new or self.records.migrated.get(old) == new:
            return False
        self.records.migrated[old] = new
        return True

    def mark_dead(self, chat_id: int, reason: str) -> bool:
        """Record that ``chat_id`` refuses the bot; False when it was known already."""
        if chat_id in self.records.dead:
            return False
        self.records.dead[chat_id] = DeadChat(reason=reason, since=time.time())
        return True

    def revive(self, chat_id: int) -> bool:
        """The chat wrote to the bot again: it can receive messages again."""
        return self.records.dead.pop(chat_id, None) is not None

    async def persist(self) -> None:
        """Write the current facts (atomic, off the loop); writes never overtake each other."""
        async with self._lock:
            snapshot = self.records.model_copy(deep=True)
            await asyncio.to_thread(self.save, snapshot)

    def save(self, snapshot: ChatRecords | None = None) -> None:
        """Atomic write; a failing disk keeps the facts in memory and says so."""
        if self.path is None:
            return
        try:
            write_model(self.path, snapshot or self.records)
        except OSError as exc:
            log.error("telegram chat facts not saved to %s (%s); they hold until the restart", self.path, exc)

    def _load(self) -> ChatRecords:
        if self.path is None:
            return ChatRecords()
        try:
            found = read_model(self.path, ChatRecords, self.path.parent / "quarantine")
        except OSError as exc:
            log.error("telegram chat facts %s unreadable (%s); using the configured chat ids", self.path, exc)
            return ChatRecords()
        return found or ChatRecords()
