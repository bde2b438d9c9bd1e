"""Who may talk to the bot, and where: roles belong to people (user ids), never to chats.

Admins (every command) and viewers (read-only) are Telegram *user* ids. A group is only a place:
an allowed person may speak in their private chat with the bot or in one of the configured group
chats (``TELEGRAM_NOTIFY_CHAT_IDS``, followed through supergroup migrations); a stranger in that
group has no authority at all. A stranger gets no answer — not even "not allowed" — so the bot does
not confirm it exists; the attempt is logged at most once per interval per chat, so a spammer cannot
fill the log either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from src.telegram.chats import ChatBook
from src.telegram.commands import Role

log = logging.getLogger(__name__)


class Access:
    """Roles by user id, the chats where they count, and the chats that receive broadcasts."""

    def __init__(self, admins: Iterable[int], viewers: Iterable[int], groups: Iterable[int] = (),
                 log_interval_s: float = 60.0, monotonic: Callable[[], float] = time.monotonic,
                 chats: ChatBook | None = None) -> None:
        self.admins = frozenset(admins)
        self.viewers = frozenset(viewers) - self.admins
        self.groups = tuple(dict.fromkeys(groups))
        self.chats = chats or ChatBook()
        self.log_interval_s = log_interval_s
        self._monotonic = monotonic
        self._last_logged: dict[int, float] = {}
        self.stranger_messages = 0
        self.stranger_logs = 0

    def role(self, user_id: int | None) -> Role | None:
        """The person's role; None for strangers (and for a message with no person behind it)."""
        if user_id in self.admins:
            return "admin"
        if user_id in self.viewers:
            return "viewer"
        return None

    def role_here(self, chat_id: int, user_id: int | None) -> Role | None:
        """The person's role if this chat is a place where they may speak: their own private chat
        (Telegram gives a private chat the user's id) or a configured group."""
        role = self.role(user_id)
        if role is None:
            return None
        return role if chat_id == user_id or chat_id in self.group_chats() else None

    def group_chats(self) -> list[int]:
        """The configured groups under their current ids (a migrated group is followed)."""
        return list(dict.fromkeys(self.chats.resolve(g) for g in self.groups))

    def is_admin_chat(self, chat_id: int) -> bool:
        """An admin's private chat: the only chats that get action buttons."""
        return chat_id in self.admins

    def recipients(self, audience: str) -> list[int]:
        """Chats that receive a broadcast: ``admins`` (admins' private chats and the groups) or
        ``all`` (viewers' private chats too); chats that refuse the bot are skipped."""
        chats = sorted(self.admins)
        if audience == "all":
            chats += sorted(self.viewers)
        chats += [g for g in self.group_chats() if g not in chats]
        return [c for c in chats if not self.chats.is_dead(c)]

    def note_stranger(self, chat_id: int, user_id: int | None, what: str) -> None:
        """Count a message with no authority here; log it unless this chat was logged recently."""
        self.stranger_messages += 1
        now = self._monotonic()
        last = self._last_logged.get(chat_id)
        if last is not None and now - last < self.log_interval_s:
            return
        self._last_logged[chat_id] = now
        self.stranger_logs += 1
        if len(self._last_logged) > 10_000:  # a flood of distinct strangers must not grow memory forever
            self._last_logged = {c: t for c, t in self._last_logged.items() if now - t < self.log_interval_s}
        why = ("chat not in TELEGRAM_NOTIFY_CHAT_IDS" if self.role(user_id) else
               "user not in TELEGRAM_ADMIN_IDS/VIEWER_IDS")
        log.warning("ignored telegram %s from user %s in chat %s (%s)", what[:40], user_id, chat_id, why)
