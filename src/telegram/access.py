"""Who may talk to the bot: admins (everything), viewers (read-only), and strangers (silence).

A stranger gets no answer at all — not even "not allowed" — so the bot does not confirm it
exists; the attempt is logged at most once per interval per chat, so a spammer cannot fill the
log either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from src.telegram.commands import Role

log = logging.getLogger(__name__)


class Access:
    """Roles by chat id, from TELEGRAM_CHAT_IDS (admins) and TELEGRAM_VIEWER_IDS (viewers)."""

    def __init__(self, admins: Iterable[int], viewers: Iterable[int], log_interval_s: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.admins = frozenset(admins)
        self.viewers = frozenset(viewers) - self.admins
        self.log_interval_s = log_interval_s
        self._monotonic = monotonic
        self._last_logged: dict[int, float] = {}
        self.stranger_messages = 0
        self.stranger_logs = 0

    def role(self, chat_id: int) -> Role | None:
        if chat_id in self.admins:
            return "admin"
        if chat_id in self.viewers:
            return "viewer"
        return None

    def recipients(self, audience: str) -> list[int]:
        """Chats that receive a broadcast: ``admins`` or ``all`` (admins and viewers)."""
        chats = sorted(self.admins)
        if audience == "all":
            chats += sorted(self.viewers)
        return chats

    def note_stranger(self, chat_id: int, user_id: int | None, what: str) -> None:
        """Count a message from an unknown chat; log it unless this chat was logged recently."""
        self.stranger_messages += 1
        now = self._monotonic()
        last = self._last_logged.get(chat_id)
        if last is not None and now - last < self.log_interval_s:
            return
        self._last_logged[chat_id] = now
        self.stranger_logs += 1
        if len(self._last_logged) > 10_000:  # a flood of distinct strangers must not grow memory forever
            self._last_logged = {c: t for c, t in self._last_logged.items() if now - t < self.log_interval_s}
        log.warning("ignored telegram %s from unknown chat %s (user %s); not in TELEGRAM_CHAT_IDS/VIEWER_IDS",
                    what[:40], chat_id, user_id)
