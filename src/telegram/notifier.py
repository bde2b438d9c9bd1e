"""Notifiers: where scheduled messages and alerts go — Telegram when configured, the log otherwise.

``ctx.services["notifier"]`` is one of these; any component may call ``notify(...)`` without
knowing whether a phone is listening. :class:`EventRelay` forwards alerts and the lifecycle steps
no alert announces from the bus to Telegram (the console already gets everything from
:class:`~src.app.notifier.ConsoleNotifier`, so the relay exists only when Telegram is on).
Data-status changes arrive as the data gate's own alerts, so ``DataStatus`` events are not
relayed a second time. Discovery and approval alerts (keys ``discovery:<id>``, ``approval:<id>``)
are rendered from the strategy's file with their templates; only an approval request whose
strategy is still ``awaiting_approval`` carries Approve / Reject buttons (for admins): a button
that the lifecycle would refuse is never shown.
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

from src.core.events import Alert, Event, StrategyEvent, TradeClosed, TradeOpened
from src.runtime.context import AppContext
from src.telegram.access import Access
from src.telegram.outbox import Button, Outbox
from src.telegram.render import templates
from src.telegram.render.format import Message, plain
from src.telegram.strategy_files import find_strategy
from src.telegram.trade_notes import TradeThrottle, trade_message, trade_messages_on, with_skipped

log = logging.getLogger("notify")

Audience = Literal["admins", "all"]
AUDIENCE: dict[str, Audience] = {"info": "all", "warning": "all", "action": "admins", "critical": "all"}
# Lifecycle steps no alert announces (the lifecycle alerts on discovery, approval waiting, demotion
# and retirement itself); generated/backtested would be noise on a phone.
RELAYED_STATUSES = frozenset({"approved", "live", "scaling", "rejected"})
CALLBACK_LIMIT = 64  # Telegram's cap on callback data, in bytes


class Notifier(Protocol):
    """What every part of the bot may call to tell a person something."""

    def notify(self, text: str, *, level: str = "info", key: str = "", audience: Audience = "all",
               buttons: list[list[Button]] | None = None, replace: bool = False, html: bool = False,
               skip_chats: frozenset[int] = frozenset()) -> None:
        """Tell people ``text``; ``key`` de-duplicates, ``replace`` lets a newer report supersede a pending one.

        ``html``: the text is Telegram HTML from a template (else plain text, escaped on the way out);
        ``skip_chats``: chats that already have the news (the person whose command caused it).
        """
        ...


class LogNotifier:
    """No token: the same messages, written to the console and the log."""

    def __init__(self) -> None:
        self.sent = 0

    def notify(self, text: str, *, level: str = "info", key: str = "", audience: Audience = "all",
               buttons: list[list[Button]] | None = None, replace: bool = False, html: bool = False,
               skip_chats: frozenset[int] = frozenset()) -> None:
        del key, audience, buttons, replace, skip_chats  # the log keeps every message, for everyone
        self.sent += 1
        log.log(logging.WARNING if level in ("action", "critical") else logging.INFO, "%s",
                plain(text) if html else text)


class TelegramNotifier:
    """Queues one message per recipient chat; buttons only ever go to admins' private chats."""

    def __init__(self, outbox: Outbox, access: Access, notify_viewers: bool = True) -> None:
        self.outbox = outbox
        self.access = access
        self.notify_viewers = notify_viewers

    def notify(self, text: str, *, level: str = "info", key: str = "", audience: Audience = "all",
               buttons: list[list[Button]] | None = None, replace: bool = False, html: bool = False,
               skip_chats: frozenset[int] = frozenset()) -> None:
        del level  # the text already carries its level's prefix
        scope: Audience = audience if self.notify_viewers else "admins"
        for chat in self.access.recipients(scope):
            if chat in skip_chats:
                continue
            is_admin = self.access.is_admin_chat(chat)
            self.outbox.enqueue(chat, text, key=key, buttons=buttons if is_admin else None, replace=replace,
                                html=html)


def approval_buttons(strategy_id: str) -> list[list[Button]]:
    """Approve / Reject buttons, or none when the id would not fit Telegram's callback data."""
    if len(f"reject:{strategy_id}".encode()) > CALLBACK_LIMIT:
        return []
    return [[("✅ Approve", f"approve:{strategy_id}"), ("❌ Reject", f"reject:{strategy_id}")]]


def person_chat(actor: str) -> frozenset[int]:
    """The private chat of a Telegram actor ("telegram:<user id>"): the Bot API gives a private chat
    the user's own id, and that chat already got the command's answer (one message per action)."""
    kind, _, user = actor.partition(":")
    return frozenset({int(user)}) if kind == "telegram" and user.lstrip("-").isdigit() else frozenset()


class EventRelay:
    """Bus → notifier for alerts and person-relevant lifecycle steps (component ``telegram_alerts``)."""

    name = "telegram_alerts"

    def __init__(self, ctx: AppContext, notifier: Notifier, throttle: TradeThrottle | None = None) -> None:
        self.ctx = ctx
        self.notifier = notifier
        self.relayed = 0
        cfg = ctx.config.telegram
        kinds = ["alert", "strategy"]
        if trade_messages_on(ctx.config.mode, cfg.trade_messages):
            kinds += ["trade_opened", "trade_closed"]
        self.throttle = throttle or TradeThrottle(cfg.trade_messages_per_hour)
        self._sub = ctx.bus.subscribe(self.name, self.on_event, kinds=kinds)

    async def on_event(self, event: Event) -> None:
        if isinstance(event, Alert):
            self._alert(event)
        elif isinstance(event, StrategyEvent):
            self._strategy(event)
        elif isinstance(event, TradeOpened | TradeClosed):
            self._trade(event)

    def _trade(self, event: TradeOpened | TradeClosed) -> None:
        """One message per booked trade line, within the hourly budget; the rest counted, said later."""
        ok, skipped = self.throttle.admit()
        if not ok:
            return
        self.relayed += 1
        message = with_skipped(trade_message(event, self.ctx.config.quote), skipped)
        self.notifier.notify(message.render(), key=f"{event.kind}:{event.strategy_id}:{event.symbol}:{event.ts_ms}",
                             html=True)

    def _alert(self, event: Alert) -> None:
        """One message per alert; a repeat of the same condition (key, level, title) inside the window is dropped."""
        self.relayed += 1
        key = f"{event.key}|{event.level}|{event.title}" if event.key else ""
        message, buttons = self._render(event)
        self.notifier.notify(message.render(), level=event.level, key=key, audience=AUDIENCE.get(event.level, "all"),
                             buttons=buttons, html=True)

    def _render(self, event: Alert) -> tuple[Message, list[list[Button]] | None]:
        """The template for the alert's kind; buttons only where they can act (awaiting approval)."""
        kind, _, sid = event.key.partition(":")
        record = find_strategy(self.ctx.paths.strategies, sid) if kind in ("discovery", "approval") and sid else None
        if record is None:
            return templates.alert(event.level, event.title, event.text), None
        if kind == "discovery":
            return templates.discovery(record), None
        waiting = record.get("status") == "awaiting_approval"
        return templates.approval_request(record), approval_buttons(sid) if waiting else None

    def _strategy(self, event: StrategyEvent) -> None:
        if event.status not in RELAYED_STATUSES:
            return
        self.relayed += 1
        self.notifier.notify(f"strategy {event.strategy_id} → {event.status}: {event.reason}",
                             key=f"strategy:{event.strategy_id}:{event.status}", skip_chats=person_chat(event.actor))

    async def run(self) -> None:
        await self.ctx.bus.run_subscriber(self._sub)
