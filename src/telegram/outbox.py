"""The outgoing message queue: flood control, de-duplication, retries, and it survives an outage.

Nothing that trades ever waits on Telegram. Components call :meth:`Outbox.enqueue`, which only
appends to a list in memory and returns; one sender task drains the list at the pace Telegram
allows (about one message a second per chat, twenty a minute per group, thirty a second overall).
While Telegram is unreachable the messages stay queued and the sender backs off; when it comes
back they go out in order. Every wait is per chat — a flood wait (429), a chat's backoff — so one
failing chat never holds up another. A group that became a supergroup (400 with
``migrate_to_chat_id``, PTB's ``ChatMigrated``) is followed to its new id, saved and announced; a
chat that refuses the bot (403, ``Forbidden``) is marked dead and announced, and nothing more is
sent to it until it writes to the bot again. The queue is written to
``state/telegram_outbox.json`` by a separate writer task (atomic write in a worker thread,
coalesced), so a restart sends what was pending.
Photos (chart replies) are kept in memory only: they answer a question asked moments ago. A photo
whose text does not fit Telegram's 1,024-character caption goes with a short caption and the whole
text follows as messages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from src.config.telegram import TelegramConfig
from src.state.store import read_model, write_model
from src.telegram.chats import ChatBook
from src.telegram.render.format import esc, plain, shorten, split_lines

log = logging.getLogger(__name__)

MAX_TEXT = 4000  # Telegram rejects more than 4096 characters; keep a margin for formatting
CAPTION_LIMIT = 1024  # Bot API sendPhoto: "Photo caption ... 0-1024 characters"
SHORT_CAPTION = 200  # the caption of a photo whose text follows as messages
Button = tuple[str, str]  # (label, callback data)
Alerter = Callable[[str, str, str], None]  # (key, title, text) of an action alert for the admins


class OutgoingMessage(BaseModel):
    """One message waiting to be sent; this is what is persisted."""

    model_config = ConfigDict(extra="forbid")

    id: str
    chat_id: int
    text: str
    buttons: list[list[Button]] = Field(default_factory=list)
    key: str = ""
    created_at: float = 0.0
    attempts: int = 0
    parse_mode: str = ""  # "HTML" for everything queued now; "" for plain text queued by an older build


class PendingMessages(BaseModel):
    """``state/telegram_outbox.json``."""

    model_config = ConfigDict(extra="forbid")

    messages: list[OutgoingMessage] = Field(default_factory=list)


@dataclass
class _Item:
    msg: OutgoingMessage
    photo: bytes | None = None

    @property
    def persistent(self) -> bool:
        return self.photo is None


class Sender(Protocol):
    """What actually talks to Telegram (the bot); raises ``telegram.error`` exceptions."""

    async def send(self, msg: OutgoingMessage, photo: bytes | None) -> None: ...


def photo_caption(text: str) -> tuple[str, str]:
    """``(caption, rest)``: the text itself when it fits a caption, else its first line (shortened)
    as the caption and the whole text to send after the photo."""
    if len(text) <= CAPTION_LIMIT:
        return text, ""
    first = text.strip().splitlines()[0] if text.strip() else ""
    if len(first) > SHORT_CAPTION:  # HTML: shorten the visible text, never cut a tag in two
        first = esc(shorten(plain(first), SHORT_CAPTION))
    return f"{first}\n(details below)".strip(), text


def retry_after_s(exc: RetryAfter) -> float:
    """Seconds Telegram asked us to wait, whatever PTB's int/timedelta mode is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class FloodControl:
    """Earliest next send per chat and overall, from the configured intervals."""

    def __init__(self, cfg: TelegramConfig, monotonic: Callable[[], float]) -> None:
        self.cfg = cfg
        self._monotonic = monotonic
        self._last_chat: dict[int, float] = {}
        self._last_any = float("-inf")

    def interval(self, chat_id: int) -> float:
        """Groups (negative ids) get the stricter per-group pace."""
        return self.cfg.group_interval_s if chat_id < 0 else self.cfg.per_chat_interval_s

    def ready_at(self, chat_id: int) -> float:
        chat_ready = self._last_chat.get(chat_id, float("-inf")) + self.interval(chat_id)
        return max(chat_ready, self._last_any + 1.0 / self.cfg.global_per_second)

    def record(self, chat_id: int) -> None:
        now = self._monotonic()
        self._last_chat[chat_id] = now
        self._last_any = now


class Outbox:
    """The queue component (``telegram_outbox``); the bot attaches itself as the sender when online."""

    name = "telegram_outbox"

    def __init__(self, cfg: TelegramConfig, path: Path, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, chats: ChatBook | None = None,
                 alert: Alerter | None = None) -> None:
        self.cfg = cfg
        self.path = path
        self._monotonic = monotonic
        self._sleep = sleep
        self.chats = chats or ChatBook()
        self._alert = alert or (lambda _key, title, text: log.warning("%s: %s", title, text))
        self.flood = FloodControl(cfg, monotonic)
        self._items: list[_Item] = [_Item(self._readdressed(m)) for m in self._load()]
        self._held_until: dict[int, float] = {}  # per chat: flood wait or backoff
        self._backoff: dict[int, float] = {}
        self._recent_keys: dict[tuple[int, str], float] = {}
        self._sender: Sender | None = None
        self._wake = asyncio.Event()
        self._dirty = asyncio.Event()
        self._paused_until = 0.0  # every chat waits: only for an invalid token
        self._write_lock = threading.Lock()
        self.persist_error = ""
        self._seq = 0
        self._written_seq = 0
        self.stats = {"sent": 0, "deduped": 0, "superseded": 0, "dropped": 0, "failed_attempts": 0, "rejected": 0,
                      "migrated": 0, "dead_chat": 0}
        self.last_error = ""

    # ---- producers -------------------------------------------------------------------------
    def enqueue(self, chat_id: int, text: str, *, key: str = "", buttons: list[list[Button]] | None = None,
                photo: bytes | None = None, replace: bool = False, html: bool = False) -> bool:
        """Queue a message without waiting; False when ``key`` was already sent to this chat recently.

        Everything goes out in HTML parse mode: ``html`` says ``text`` is markup already, otherwise
        it is plain text and escaped here, so no caller can send a stray ``<`` or ``&``.

        ``replace`` is for periodic reports: the new message supersedes a still-pending one with the
        same key (after an outage, one fresh status beats forty stale ones) and is never de-duplicated.
        """
        chat_id = self.chats.resolve(chat_id)
        if self.chats.is_dead(chat_id):
            self.stats["dead_chat"] += 1
            return False
        now = self._monotonic()
        if replace and key:
            self._supersede(chat_id, key)
            self._recent_keys[(chat_id, key)] = now
        elif key and self._is_duplicate(chat_id, key, now):
            self.stats["deduped"] += 1
            return False
        text = text if text.strip() else "(empty message)"
        body = text if html else esc(text)
        parts = split_lines(body)
        if photo is not None:
            caption, rest = photo_caption(body)
            parts = [caption, *(split_lines(rest) if rest else [])]
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            msg = OutgoingMessage(id=uuid.uuid4().hex[:12], chat_id=chat_id, text=part, key=key,
                                  buttons=(buttons or []) if last else [], created_at=time.time(),
                                  parse_mode="HTML")
            self._items.append(_Item(msg, photo if i == 0 else None))
        self._trim()
        self._dirty.set()
        self._wake.set()
        return True

    def _supersede(self, chat_id: int, key: str) -> None:
        kept = [i for i in self._items if not (i.msg.chat_id == chat_id and i.msg.key == key)]
        self.stats["superseded"] += len(self._items) - len(kept)
        self._items = kept

    def _is_duplicate(self, chat_id: int, key: str, now: float) -> bool:
        seen = self._recent_keys.get((chat_id, key))
        if seen is not None and now - seen < self.cfg.dedupe_window_s:
            return True
        self._recent_keys[(chat_id, key)] = now
        if len(self._recent_keys) > 4 * self.cfg.max_pending:
            cutoff = now - self.cfg.dedupe_window_s
            self._recent_keys = {k: t for k, t in self._recent_keys.items() if t >= cutoff}
        return False

    def _trim(self) -> None:
        excess = len(self._items) - self.cfg.max_pending
        if excess > 0:
            del self._items[:excess]
            self.stats["dropped"] += excess
            log.warning("telegram outbox full: dropped the %d oldest pending message(s)", excess)

    # ---- the sender ------------------------------------------------------------------------
    def attach(self, sender: Sender | None) -> None:
        """The bot calls this when it is online (and with None when it goes away)."""
        self._sender = sender
        self._wake.set()

    @property
    def pending(self) -> list[OutgoingMessage]:
        return [item.msg for item in self._items]

    def describe(self) -> dict[str, Any]:
        return {"pending": len(self._items), "online": self._sender is not None, **self.stats,
                "waiting_chats": sorted(c for c, t in self._held_until.items() if t > self._monotonic()),
                "dead_chats": sorted(self.chats.records.dead), "migrated_chats": dict(self.chats.records.migrated),
                "last_error": self.last_error, "persist_error": self.persist_error}

    async def run(self) -> None:
        try:
            await asyncio.gather(self._send_loop(), self._persist_loop())
        finally:
            self._write_now()

    async def _send_loop(self) -> None:
        while True:
            delay = await self.send_once()
            if delay is not None and delay <= 0:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def send_once(self) -> float | None:
        """Send the next message that may go now; return how long to wait (None: until woken)."""
        now = self._monotonic()
        if self._sender is None or not self._items:
            return None
        if now < self._paused_until:
            return self._paused_until - now
        item, wait = self._next_ready(now)
        if item is None:
            return wait
        await self._deliver(item)
        return 0.0

    def _next_ready(self, now: float) -> tuple[_Item | None, float | None]:
        """The oldest message whose chat may be written to now; per-chat order is kept."""
        seen: set[int] = set()
        soonest: float | None = None
        for item in self._items:
            chat = item.msg.chat_id
            if chat in seen:
                continue
            seen.add(chat)
            ready = max(self.flood.ready_at(chat), self._held_until.get(chat, float("-inf")))
            if ready <= now:
                return item, None
            soonest = ready - now if soonest is None else min(soonest, ready - now)
        return None, soonest

    async def _deliver(self, item: _Item) -> None:
        """One send; every outcome but an invalid token concerns only this message's chat."""
        assert self._sender is not None
        chat = item.msg.chat_id
        item.msg.attempts += 1
        try:
            await self._sender.send(item.msg, item.photo)
        except ChatMigrated as exc:  # a plain TelegramError: check it before the catch-all
            await self.adopt_migration(chat, int(exc.new_chat_id))
        except RetryAfter as exc:
            self._failed(chat, f"flood wait {retry_after_s(exc):.0f}s", retry_after_s(exc))
        except Forbidden as exc:
            await self._chat_refuses(chat, str(exc))  # Telegram's text already says "Forbidden: ..."
        except BadRequest as exc:  # a NetworkError: check it before NetworkError
            self._drop(item, f"{type(exc).__name__}: {exc}")
        except InvalidToken as exc:
            self._failed(chat, f"invalid token: {exc}", self.cfg.retry_max_s)
            self._paused_until = self._monotonic() + self.cfg.retry_max_s  # the token is every chat's
        except (NetworkError, TelegramError) as exc:
            backoff = min(self.cfg.retry_max_s, max(self.cfg.retry_initial_s, self._backoff.get(chat, 0.0) * 2))
            self._backoff[chat] = backoff
            self._failed(chat, f"{type(exc).__name__}: {exc}", backoff)
        except Exception as exc:  # not Telegram's answer: our bug or a poison message; never loop on it
            log.exception("telegram send of message %s crashed", item.msg.id)
            if item.msg.attempts >= 3:
                self._drop(item, f"{type(exc).__name__}: {exc}")
            else:
                self._failed(chat, f"{type(exc).__name__}: {exc}", self.cfg.retry_initial_s)
        else:
            self._sent(item)

    def _sent(self, item: _Item) -> None:
        chat = item.msg.chat_id
        self.flood.record(chat)
        self._remove(item)
        self.stats["sent"] += 1
        if self._backoff.pop(chat, 0.0):
            log.info("telegram reachable again for chat %s; %d message(s) still queued", chat, len(self._items))
        self._held_until.pop(chat, None)
        self.last_error = ""

    def _failed(self, chat: int, reason: str, wait_s: float) -> None:
        self.stats["failed_attempts"] += 1
        if reason != self.last_error:
            log.warning("telegram send to chat %s failed (%s); %d queued, retrying it in %.1fs", chat, reason,
                        len(self._items), wait_s)
        self.last_error = reason
        self._held_until[chat] = self._monotonic() + wait_s

    # ---- what Telegram tells us about a chat -----------------------------------------------
    async def adopt_migration(self, old: int, new: int) -> None:
        """The group ``old`` is now the supergroup ``new``: re-address its queue, save, tell the admins."""
        new_fact = self.chats.migrate(old, new)
        for item in self._items:
            if item.msg.chat_id == old:
                item.msg.chat_id = new
        self._held_until.pop(old, None)
        self._backoff.pop(old, None)
        self._dirty.set()
        self._wake.set()
        if not new_fact:
            return
        self.stats["migrated"] += 1
        await self.chats.persist()
        log.warning("telegram group %s became supergroup %s; sending there from now on", old, new)
        self._alert(f"telegram:migrated:{old}", "Telegram group moved",
                    f"group {old} became supergroup {new}; messages now go to {new} (kept in state). "
                    f"Put {new} in TELEGRAM_NOTIFY_CHAT_IDS in place of {old}.")

    async def _chat_refuses(self, chat: int, reason: str) -> None:
        """403: the person blocked the bot or it was removed from the group; stop trying that chat."""
        dropped = [i for i in self._items if i.msg.chat_id == chat]
        for item in dropped:
            self._remove(item)
        self.stats["rejected"] += len(dropped)
        self._held_until.pop(chat, None)
        if not self.chats.mark_dead(chat, reason):
            return
        await self.chats.persist()
        log.error("telegram chat %s refuses the bot (%s); %d message(s) dropped, no more sends", chat, reason,
                  len(dropped))
        self._alert(f"telegram:dead:{chat}", "Telegram chat unreachable",
                    f"chat {chat} refuses the bot ({reason}); {len(dropped)} message(s) to it dropped and "
                    "nothing more is sent there. It receives messages again once it writes to the bot "
                    "(unblock it, or add the bot back to the group).")

    async def revive(self, chat: int) -> None:
        """A chat wrote to the bot: if it was marked dead, it can receive messages again."""
        if self.chats.revive(chat):
            log.info("telegram chat %s writes to the bot again; sending to it again", chat)
            await self.chats.persist()

    def _readdressed(self, msg: OutgoingMessage) -> OutgoingMessage:
        """A message queued before a restart, to its chat's current id."""
        msg.chat_id = self.chats.resolve(msg.chat_id)
        return msg

    def _drop(self, item: _Item, reason: str) -> None:
        self._remove(item)
        self.stats["rejected"] += 1
        log.error("telegram refused a message to chat %s (%s); dropped: %.80s", item.msg.chat_id, reason,
                  item.msg.text)

    def _remove(self, item: _Item) -> None:
        self._items = [i for i in self._items if i is not item]
        if item.persistent:
            self._dirty.set()

    async def flush(self, timeout_s: float) -> bool:
        """Try to send everything now (shutdown); True when the queue emptied in time."""
        deadline = self._monotonic() + timeout_s
        while self._items and self._sender is not None and self._monotonic() < deadline:
            delay = await self.send_once()
            if delay:
                await self._sleep(min(delay, max(0.0, deadline - self._monotonic())))
        self._write_now()
        return not self._items

    # ---- persistence -----------------------------------------------------------------------
    def _snapshot(self) -> PendingMessages:
        return PendingMessages(messages=[i.msg.model_copy() for i in self._items if i.persistent])

    async def _persist_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self._seq += 1
            await asyncio.to_thread(self._write, self._snapshot(), self._seq)

    def _write(self, snapshot: PendingMessages, seq: int) -> None:
        """Write unless a newer snapshot already landed (a slow thread must not overwrite a newer file).

        A failing disk is logged, not raised: the messages are still in memory and still get sent.
        """
        with self._write_lock:
            if seq <= self._written_seq:
                return
            try:
                write_model(self.path, snapshot)
            except OSError as exc:
                if not self.persist_error:
                    log.error("telegram outbox cannot be saved (%s); pending messages live in memory only", exc)
                self.persist_error = str(exc)
                return
            self._written_seq = seq
            self.persist_error = ""

    def _write_now(self) -> None:
        self._seq += 1
        self._write(self._snapshot(), self._seq)

    def _load(self) -> list[OutgoingMessage]:
        try:
            found = read_model(self.path, PendingMessages, self.path.parent / "quarantine")
        except OSError as exc:  # unreadable is not fatal: the bot must still start and talk
            log.error("telegram outbox %s unreadable (%s); starting with an empty queue", self.path, exc)
            return []
        if found is None:
            return []
        if found.messages:
            log.info("telegram outbox: %d message(s) pending from before the restart", len(found.messages))
        return list(found.messages)
