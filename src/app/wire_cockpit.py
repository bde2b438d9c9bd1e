"""Composition root, control surface: the go-live gate, the notifier, and (with a token) the Telegram bot.

Called once from :func:`src.app.wiring.assemble`. Without ``TELEGRAM_BOT_TOKEN`` and at
least one admin user id, the scheduler still runs and its messages go to the log through a
:class:`LogNotifier`; alerts already reach the console through the foundation's ConsoleNotifier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from src.app.supervisor import Supervisor
from src.control.golive import ConfirmationCodes, GoLiveGate, register_golive_commands
from src.core.events import Alert
from src.runtime.context import AppContext
from src.telegram.access import Access
from src.telegram.actions import Cockpit
from src.telegram.bot import TelegramBot
from src.telegram.chats import ChatBook
from src.telegram.notifier import EventRelay, LogNotifier, Notifier, TelegramNotifier
from src.telegram.outbox import Outbox
from src.telegram.scheduler import EquitySampler, Scheduler
from src.telegram.strategy_files import list_strategies
from src.telegram.view import TradingView

log = logging.getLogger(__name__)

OUTBOX_FILE = "telegram_outbox.json"
CHATS_FILE = "telegram_chats.json"


def telegram_disabled_reason(ctx: AppContext) -> str | None:
    """Why Telegram stays off (None when it can start)."""
    if not ctx.config.telegram.enabled:
        return "telegram.enabled is false"
    if not ctx.secrets.telegram_bot_token:
        return "TELEGRAM_BOT_TOKEN is not set"
    if not ctx.secrets.telegram_admin_ids:
        return "TELEGRAM_ADMIN_IDS is empty (nobody to obey)"
    return None


@dataclass(frozen=True)
class CockpitParts:
    """The control surface: the go-live gate, where messages go, and the bot when Telegram is on."""

    golive: GoLiveGate
    notifier: Notifier
    bot: TelegramBot | None


def add_telegram_components(ctx: AppContext, supervisor: Supervisor, view: TradingView) -> CockpitParts:
    """Register the gate's commands, the notifier and the cockpit components."""
    cfg = ctx.config.telegram
    codes = ConfirmationCodes(cfg.confirm_code_ttl_s, cfg.confirm_max_attempts)
    gate = GoLiveGate(ctx.config, view.control, codes, describe=lambda: _would_go_live(ctx))
    register_golive_commands(view.commands, gate)
    sampler = EquitySampler(ctx, view)
    supervisor.add(sampler)
    cockpit = Cockpit(ctx, gate, codes, view, sampler.curve, sampler.benchmark)
    notifier: Notifier
    bot: TelegramBot | None = None
    reason = telegram_disabled_reason(ctx)
    if reason is None:
        bot, notifier = _add_bot(ctx, supervisor, cockpit)
    else:
        log.info("telegram off (%s): scheduled messages go to the log", reason)
        notifier = LogNotifier()
    supervisor.add(Scheduler(ctx, cockpit, notifier))
    return CockpitParts(gate, notifier, bot)


def _add_bot(ctx: AppContext, supervisor: Supervisor, cockpit: Cockpit) -> tuple[TelegramBot, Notifier]:
    cfg = ctx.config.telegram
    chats = ChatBook(ctx.paths.state / CHATS_FILE)
    access = Access(ctx.secrets.telegram_admin_ids, ctx.secrets.telegram_viewer_ids,
                    ctx.secrets.telegram_notify_chat_ids, cfg.stranger_log_interval_s, chats=chats)
    outbox = Outbox(cfg, ctx.paths.state / OUTBOX_FILE, chats=chats,
                    alert=lambda key, title, text: ctx.bus.publish(Alert("action", title, text, key=key)))
    bot = TelegramBot(ctx.secrets.telegram_bot_token, cfg, cockpit, outbox, access)
    notifier = TelegramNotifier(outbox, access, cfg.notify_viewers)
    supervisor.add(outbox)
    supervisor.add(bot)
    supervisor.add(EventRelay(ctx, notifier))
    supervisor.on_shutdown("telegram", bot.close)
    ctx.status.register("telegram", bot.describe)
    return bot, notifier


def _would_go_live(ctx: AppContext) -> dict[str, Any]:
    """What a go-live confirmation would switch on: the approved strategies (read from their files)."""
    approved = [str(r.get("id")) for r in list_strategies(ctx.paths.strategies)
                if r.get("status") in ("approved", "live", "scaling")]
    return {"approved_strategies": approved, "initial_size_fraction": ctx.config.live.initial_size_fraction}
