"""Notifiers: where scheduled messages and alerts go — Telegram when configured, the log otherwise.

``ctx.services["notifier"]`` is one of these; any component may call ``notify(...)`` without
knowing whether a phone is listening. :class:`EventRelay` forwards alerts, strategy lifecycle
changes and data-status changes from the bus to Telegram (the console already gets them from
:class:`~src.app.notifier.ConsoleNotifier`, so the relay exists only when Telegram is on).
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

from src.app.context import AppContext
from src.app.events import Alert, DataStatus, Event, StrategyEvent
from src.telegram.access import Access
from src.telegram.outbox import Button, Outbox

log = logging.getLogger("notify")

Audience = Literal["admins", "all"]
PREFIX = {"info": "ℹ️", "warning": "⚠️", "action": "❗ ACTION NEEDED:", "critical": "🛑 CRITICAL:"}
AUDIENCE: dict[str, Audience] = {"info": "all", "warning": "all", "action": "admins", "critical": "all"}
# Lifecycle steps worth a message; the rest (generated, backtested) would be noise on a phone.
RELAYED_STATUSES = frozenset({"dry_run", "awaiting_approval", "approved", "live", "scaling", "retired", "rejected"})
CALLBACK_LIMIT = 64  # Telegram's cap on callback data, in bytes


class Notifier(Protocol):
    """What every part of the bot may call to tell a person something."""

    def notify(self, text: str, *, level: str = "info", key: str = "", audience: Audience = "all",
               buttons: list[list[Button]] | None = None) -> None: ...


class LogNotifier:
    """No token: the same messages, written to the console and the log."""

    def __init__(self) -> None:
        self.sent = 0

    def notify(self, text: str, *, level: str = "info", key: str = "", audience: Audience = "all",
               buttons: list[list[Button]] | None = None) -> None:
        self.sent += 1
        log.log(logging.WARNING if level in ("action", "critical") else logging.INFO, "%s", text)


class TelegramNotifier:
    """Queues one message per recipient chat; buttons only ever go to admins (they act on them)."""

    def __init__(self, outbox: Outbox, access: Access, notify_viewers: bool = True) -> None:
        self.outbox = outbox
        self.access = access
        self.notify_viewers = notify_viewers

    def notify(self, text: str, *, level: str = "info", key: str = "", audience: Audience = "all",
               buttons: list[list[Button]] | None = None) -> None:
        scope: Audience = audience if self.notify_viewers else "admins"
        for chat in self.access.recipients(scope):
            is_admin = self.access.role(chat) == "admin"
            self.outbox.enqueue(chat, text, key=key, buttons=buttons if is_admin else None)


def approval_buttons(strategy_id: str) -> list[list[Button]]:
    """Approve / Reject buttons, or none when the id would not fit Telegram's callback data."""
    if len(f"reject:{strategy_id}".encode()) > CALLBACK_LIMIT:
        return []
    return [[("✅ Approve", f"approve:{strategy_id}"), ("❌ Reject", f"reject:{strategy_id}")]]


class EventRelay:
    """Bus → notifier for alerts, strategy events and data-status changes (component ``telegram_alerts``)."""

    name = "telegram_alerts"

    def __init__(self, ctx: AppContext, notifier: Notifier) -> None:
        self.ctx = ctx
        self.notifier = notifier
        self.relayed = 0
        self._sub = ctx.bus.subscribe(self.name, self.on_event, kinds=("alert", "strategy", "data_status"))

    async def on_event(self, event: Event) -> None:
        if isinstance(event, Alert):
            self._alert(event)
        elif isinstance(event, StrategyEvent):
            self._strategy(event)
        elif isinstance(event, DataStatus):
            self._data(event)

    def _alert(self, event: Alert) -> None:
        self.relayed += 1
        text = f"{PREFIX.get(event.level, '')} {event.title}\n{event.text}".strip()
        self.notifier.notify(text, level=event.level, key=event.key, audience=AUDIENCE.get(event.level, "all"))

    def _strategy(self, event: StrategyEvent) -> None:
        if event.status not in RELAYED_STATUSES:
            return
        self.relayed += 1
        key = f"strategy:{event.strategy_id}:{event.status}"
        if event.status == "awaiting_approval":
            text = f"{PREFIX['action']} strategy {event.strategy_id} waits for approval\n{event.reason}"
            self.notifier.notify(text, level="action", key=key, audience="admins",
                                 buttons=approval_buttons(event.strategy_id))
            return
        self.notifier.notify(f"strategy {event.strategy_id} → {event.status}: {event.reason}", key=key)

    def _data(self, event: DataStatus) -> None:
        self.relayed += 1
        level = "action" if event.status == "BLOCKED" else "warning" if event.status == "DEGRADED" else "info"
        reasons = "; ".join(event.reasons) or "ok"
        self.notifier.notify(f"{PREFIX[level]} data {event.symbol} is {event.status}: {reasons}", level=level,
                             key=f"data:{event.symbol}:{event.status}", audience=AUDIENCE[level])

    async def run(self) -> None:
        await self.ctx.bus.run_subscriber(self._sub)
