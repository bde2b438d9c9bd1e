"""The Telegram bot: python-telegram-bot v22 inside the bot's own event loop (component ``telegram``).

Manual lifecycle, never ``run_polling`` (it wants to own the loop): ``initialize`` (getMe, retried
with backoff while Telegram is unreachable), ``setMyCommands`` from the command table, ``start``,
``updater.start_polling``; on the way out ``updater.stop`` then ``stop``, and at shutdown one
final "stopping" message and ``shutdown``. Every update passes the allow-list first (the sender's
user id, in a chat where that person may speak); a command addressed to another bot
(``/pause@other_bot``) is not ours; strangers get silence. Replies and notifications leave
through the :class:`~src.telegram.outbox.Outbox`, which this bot feeds as its sender only while it
is connected.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from src.config.telegram import TelegramConfig
from src.telegram.access import Access
from src.telegram.actions import Cockpit
from src.telegram.commands import Role, bot_commands, split_command
from src.telegram.outbox import Outbox, OutgoingMessage
from src.telegram.render.format import esc, plain
from telegram import BotCommand, BotCommandScopeChat, InlineKeyboardButton, InlineKeyboardMarkup, Update

log = logging.getLogger(__name__)



def file_url_for(base_url: str) -> str:
    """``https://host/bot`` → ``https://host/file/bot`` (the same server's file endpoint)."""
    root, _, tail = base_url.rstrip("/").rpartition("/")
    return f"{root}/file/{tail}" if root else base_url


def build_application(token: str, cfg: TelegramConfig) -> Application:
    """A PTB application pointed at ``cfg.base_url`` with bounded timeouts and no job queue."""
    t = cfg.request_timeout_s
    return (Application.builder().token(token).base_url(cfg.base_url).base_file_url(file_url_for(cfg.base_url))
            .connect_timeout(t).read_timeout(t).write_timeout(t).pool_timeout(t)
            .get_updates_connect_timeout(t).get_updates_read_timeout(t).get_updates_pool_timeout(t)
            .job_queue(None).build())


def markup(buttons: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) for label, data in row]
                                 for row in buttons])


class TelegramBot:
    """Receives commands and button presses; sends what the outbox hands it."""

    name = "telegram"

    def __init__(self, token: str, cfg: TelegramConfig, cockpit: Cockpit, outbox: Outbox, access: Access) -> None:
        self.cfg = cfg
        self.cockpit = cockpit
        self.outbox = outbox
        self.access = access
        self.app = build_application(token, cfg)
        self.app.add_handler(MessageHandler(filters.COMMAND, self._on_command))
        self.app.add_handler(CallbackQueryHandler(self._on_callback))
        self.app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migrate))
        self.app.add_handler(MessageHandler(~filters.COMMAND, self._on_other))
        self.app.add_error_handler(self._on_error)
        self.online = False
        self._initialized = False
        self._last_poll_error = ""

    # ---- lifecycle -----------------------------------------------------------------------------
    async def run(self) -> None:
        await self._connect()
        try:
            await self._set_commands()
            await self.app.start()
            await self.app.updater.start_polling(  # type: ignore[union-attr]
                poll_interval=0.0, timeout=dt.timedelta(seconds=self.cfg.poll_timeout_s), bootstrap_retries=-1,
                allowed_updates=["message", "callback_query"], error_callback=self._on_poll_error)
            self.online = True
            self.outbox.attach(self)
            log.info("telegram bot online as @%s; %d admin(s), %d viewer(s), %d group(s)", self.app.bot.username,
                     len(self.access.admins), len(self.access.viewers), len(self.access.groups))
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await self._stop_receiving()
            raise
        except BaseException:
            await self._stop_receiving()
            await self._shutdown()
            raise

    async def _connect(self) -> None:
        """``initialize`` (getMe) until it works; Telegram being down must not crash-loop the task."""
        backoff = self.cfg.retry_initial_s
        while not self._initialized:
            try:
                await self.app.initialize()
                self._initialized = True
            except (NetworkError, InvalidToken) as exc:
                await self._release_client()
                level = logging.ERROR if isinstance(exc, InvalidToken) else logging.WARNING
                log.log(level, "telegram not reachable (%s: %s); retrying in %.0fs", type(exc).__name__, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(self.cfg.retry_max_s, backoff * 2)
            except BaseException:
                await self._release_client()
                raise

    async def _release_client(self) -> None:
        """A failed ``initialize`` leaves the HTTP clients open (PTB only closes them after success)."""
        try:
            await self.app.bot.shutdown()
        except Exception:
            log.debug("closing the telegram http client failed", exc_info=True)

    async def _set_commands(self) -> None:
        """The command menu: everything by default, the read-only list in each viewer's chat."""
        menus: list[tuple[list[tuple[str, str]], BotCommandScopeChat | None]] = [(bot_commands("admin"), None)]
        menus += [(bot_commands("viewer"), BotCommandScopeChat(chat)) for chat in sorted(self.access.viewers)]
        for commands, scope in menus:
            try:
                await self.app.bot.set_my_commands([BotCommand(n, d) for n, d in commands], scope=scope)
            except TelegramError as exc:  # a missing menu is cosmetic; commands still work
                log.warning("setMyCommands failed%s: %s", f" for chat {scope.chat_id}" if scope else "", exc)

    async def _stop_receiving(self) -> None:
        """Stop polling and handlers; bounded, because PTB's last getUpdates waits on a possibly dead server."""
        self.online = False
        self.outbox.attach(None)
        try:
            if self.app.updater is not None and self.app.updater.running:
                await asyncio.wait_for(self.app.updater.stop(), timeout=self.cfg.final_message_timeout_s)
            if self.app.running:
                await self.app.stop()
        except Exception:
            log.warning("stopping telegram polling did not finish cleanly", exc_info=True)

    async def _shutdown(self) -> None:
        if self._initialized:
            self._initialized = False
            try:
                await self.app.shutdown()
            except Exception:
                log.exception("telegram shutdown failed")

    async def close(self, final_text: str = "⏹ AI Trading Lab stopping") -> None:
        """Shutdown step: a final message to admins and a last flush, bounded, then release the client."""
        budget = self.cfg.final_message_timeout_s
        try:
            if self._initialized:
                await asyncio.wait_for(self._final(final_text, budget), timeout=budget)
        except (TimeoutError, TelegramError) as exc:
            log.warning("final telegram message not sent (%s); pending messages stay queued", exc)
        finally:
            await self._stop_receiving()
            await self._shutdown()

    async def _final(self, text: str, budget: float) -> None:
        self.outbox.attach(self)
        try:
            await self.outbox.flush(budget * 0.5)
            for chat in self.access.recipients("admins"):
                await self.app.bot.send_message(chat_id=chat, text=text)
        finally:
            self.outbox.attach(None)

    # ---- the outbox's sender -------------------------------------------------------------------
    async def send(self, msg: OutgoingMessage, photo: bytes | None) -> None:
        """Send one queued message; errors propagate to the outbox, which decides to retry or drop."""
        keyboard = markup(msg.buttons)
        mode = msg.parse_mode or None
        if photo is not None:
            await self.app.bot.send_photo(chat_id=msg.chat_id, photo=photo, caption=msg.text, reply_markup=keyboard,
                                          parse_mode=mode)
        else:
            await self.app.bot.send_message(chat_id=msg.chat_id, text=msg.text, reply_markup=keyboard,
                                            parse_mode=mode)

    # ---- handlers ------------------------------------------------------------------------------
    async def _on_command(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A /command: allow-list, then the cockpit; the reply is queued, never sent inline."""
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        if message is None or chat is None or not message.text or not self._for_me(message.text):
            return
        role = await self._role(chat.id, user.id if user else None, message.text.split()[0])
        if role is None or user is None:
            return
        name, words = split_command(message.text)
        reply = await self.cockpit.dispatch(name, words, f"telegram:{user.id}", role)
        self.outbox.enqueue(chat.id, reply.text, buttons=reply.buttons, photo=reply.photo, html=reply.html)

    async def _on_callback(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """An inline Approve/Reject press: admins only; strangers get nothing, viewers a refusal toast."""
        query = update.callback_query
        if query is None:
            return
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        role = await self._role(chat_id, query.from_user.id, "button press")
        if role is None:
            return
        action, _, strategy_id = (query.data or "").partition(":")
        if role != "admin" or action not in ("approve", "reject") or not strategy_id:
            await self._answer(query, "admins only" if role != "admin" else "unknown button")
            return
        words = [strategy_id] if action == "approve" else [strategy_id, "rejected", "with", "the", "Telegram", "button"]
        reply = await self.cockpit.dispatch(action, words, f"telegram:{query.from_user.id}", role)
        await self._answer(query, plain(reply.text)[:190])
        await self._mark_used(query, action, reply.text, reply.ok)

    async def _mark_used(self, query: object, action: str, outcome: str, done: bool) -> None:
        """Edit the pressed message: buttons gone, who did what appended — the edit is the one answer."""
        user = query.from_user  # type: ignore[attr-defined]
        who = f"@{user.username}" if user.username else user.first_name
        verb = "✅ approved" if action == "approve" else "❌ rejected"
        note = f"{verb} by {esc(who)}" if done else f"⚠️ {esc(who)}: {esc(plain(outcome)[:300])}"
        message = query.message  # type: ignore[attr-defined]
        try:
            base = message.text_html if message is not None and message.text else ""
            await query.edit_message_text(f"{base}\n\n{note}".strip(), parse_mode="HTML",  # type: ignore[attr-defined]
                                          reply_markup=None)
        except TelegramError as exc:  # the message may be too old to edit; the toast already answered
            log.debug("editing the pressed message failed: %s", exc)

    async def _answer(self, query: object, text: str) -> None:
        try:
            await query.answer(text)  # type: ignore[attr-defined]
        except TelegramError as exc:
            log.debug("answerCallbackQuery failed: %s", exc)

    async def _on_other(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Plain text: strangers are noted; allowed people are pointed at /help (in private only:
        people in a group talk to each other, not to the bot)."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None or update.effective_message is None:
            return
        if await self._role(chat.id, user.id if user else None, "message") is not None and chat.type == "private":
            self.outbox.enqueue(chat.id, "send /help for the commands")

    async def _on_migrate(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Telegram's service message for a group that became a supergroup: adopt the new id.

        Only Telegram writes these (Bot API Message.migrate_to_chat_id / migrate_from_chat_id), and
        only a group we were told to use is followed.
        """
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None:
            return
        old, new = ((chat.id, message.migrate_to_chat_id) if message.migrate_to_chat_id
                    else (message.migrate_from_chat_id, chat.id))
        if old is not None and new is not None and old in self.access.group_chats():
            await self.outbox.adopt_migration(old, new)

    async def _role(self, chat_id: int, user_id: int | None, what: str) -> Role | None:
        """The sender's role in this chat, or None (noted as a stranger); a chat that writes is alive."""
        role = self.access.role_here(chat_id, user_id)
        if role is None:
            self.access.note_stranger(chat_id, user_id, what)
            return None
        await self.outbox.revive(chat_id)
        return role

    def _for_me(self, text: str) -> bool:
        """``/cmd@name``: only when ``name`` is this bot (Bot API: in groups a command may name its bot,
        "/start@jobs_bot"; usernames are case-insensitive, as PTB's CommandHandler compares them)."""
        _, at, target = text.split(maxsplit=1)[0].partition("@")
        return not at or target.lower() == (self.app.bot.username or "").lower()

    async def _on_error(self, _update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram handler error: %s", context.error, exc_info=context.error)

    def _on_poll_error(self, exc: TelegramError) -> None:
        text = f"{type(exc).__name__}: {exc}"
        if text != self._last_poll_error:  # an outage repeats the same error every few seconds
            log.warning("telegram polling: %s (retrying)", text)
        self._last_poll_error = text

    def describe(self) -> dict[str, object]:
        return {"online": self.online, "commands": self.cockpit.handled,
                "strangers": self.access.stranger_messages, "outbox": self.outbox.describe()}
