"""A loopback fake of the Telegram Bot API that the *real* python-telegram-bot client talks to.

Point the client at ``fake.base_url`` (``ApplicationBuilder().base_url(...)``). The fake keeps a
queue of updates (``push_command`` / ``push_callback``), answers ``getUpdates`` with the ones at or
after the requested offset (holding the long poll briefly when there are none), and records every
call and every message sent with its arrival time, so tests can check flood control.

Faults::

    fake.fail("sendMessage", status=429, retry_after=1)   # next call only
    fake.fail("*", status=503, times=5)                   # next five calls of any method
    fake.down = 503                                       # every call fails until set back to None
    fake.send_delay_s = 0.05                              # sendMessage/sendPhoto answer this much later
    await fake.refuse()  /  await fake.restore()          # connection refused, then back on the same port

Chat rules the real service has (each cited where it is modelled)::

    fake.push_command(GROUP, "/pause@fake_bot", user_id=42)  # a group: chat.id (negative) != from.id
    fake.migrate(GROUP, NEW)        # the group became a supergroup: sends to GROUP get 400 + migrate_to_chat_id
    fake.block(CHAT)                # 403 Forbidden for every send to CHAT (bot blocked / kicked)
    fake.flood_chat(CHAT, 30)       # 429 + retry_after for CHAT until 30 s of ``fake.clock`` have passed
    fake.rejected                   # every error answer: (method, chat_id, status, description)
"""

from __future__ import annotations

import asyncio
import html
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.telegram_html import html_problem, visible_length

BOT = {"id": 999, "is_bot": True, "first_name": "FakeBot", "username": "fake_bot"}
# Bot API, sendMessage: "Text of the message to be sent, 1-4096 characters after entities parsing";
# sendPhoto: "Photo caption ..., 0-1024 characters after entities parsing" (PTB mirrors both in
# telegram.constants.MessageLimit.MAX_TEXT_LENGTH and CAPTION_LENGTH). With parse_mode HTML the
# fake counts the characters left after entity parsing (tests/fakes/telegram_html.py).
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


def chat_type(chat_id: int) -> str:
    """Bot API, Chat.type: "private", "group", "supergroup" or "channel". Private chats have the user's
    (positive) id, groups small negative ids, supergroups the "-100" + ten digits form (Bot API,
    ResponseParameters: migrate_to_chat_id "may have more than 32 significant bits")."""
    if chat_id > 0:
        return "private"
    return "supergroup" if chat_id <= -1_000_000_000_000 else "group"


def chat_object(chat_id: int) -> dict[str, Any]:
    """Bot API, Chat: groups and supergroups carry a ``title``; private chats a first name."""
    kind = chat_type(chat_id)
    named = {"first_name": f"user{chat_id}"} if kind == "private" else {"title": f"group {chat_id}"}
    return {"id": chat_id, "type": kind, **named}


@dataclass
class SentMessage:
    """One message (or photo) the bot sent, with its arrival time on the fake's ``clock``."""

    method: str
    chat_id: int
    text: str
    at: float
    reply_markup: dict[str, Any] | None = None
    photo: bytes | None = None
    message_id: int = 0
    parse_mode: str = ""
    raw: str = ""  # the text as sent (HTML markup included); ``text`` is what the person sees


def _visible(text: str, parse_mode: str) -> str:
    """The text after Telegram parsed its HTML (tags gone, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]*>", "", text)) if parse_mode == "HTML" else text


@dataclass
class _Fault:
    method: str
    status: int
    times: int
    retry_after: int | None = None
    description: str = "fault"


@dataclass
class FakeTelegram:
    """The fake server; use as ``async with FakeTelegram() as fake:``."""

    hold_s: float = 0.2
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    commands_set: list[dict[str, str]] = field(default_factory=list)
    command_scopes: dict[str, list[str]] = field(default_factory=dict)
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    down: int | None = None
    send_delay_s: float = 0.0
    clock: Callable[[], float] = time.monotonic  # the flood-wait clock; a test may pass its fake time
    migrated: dict[int, int] = field(default_factory=dict)
    blocked: dict[int, str] = field(default_factory=dict)
    flood_until: dict[int, float] = field(default_factory=dict)
    rejected: list[tuple[str, int, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._faults: list[_Fault] = []
        self._next_update = 1
        self._next_message = 100
        self._new_update = asyncio.Event()
        self._new_sent = asyncio.Event()
        self._refused = False
        self._confirmed = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0

    async def __aenter__(self) -> FakeTelegram:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        await self._listen()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()
        server = self._site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # ---- faults --------------------------------------------------------------------------------
    def fail(self, method: str, status: int, times: int = 1, retry_after: int | None = None,
             description: str = "fault") -> None:
        self._faults.append(_Fault(method, status, times, retry_after, description))

    async def refuse(self) -> None:
        """Stop listening (new connections refused) and drop requests on kept-alive connections."""
        self._refused = True
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def restore(self) -> None:
        self._refused = False
        await self._listen()

    # ---- updates from "people" -----------------------------------------------------------------
    def push_command(self, chat_id: int, text: str, user_id: int | None = None) -> int:
        """Queue a message as if user ``user_id`` typed ``text`` in ``chat_id``.

        In a private chat the chat id is the user's id, so ``user_id`` defaults to it; in a group the
        chat (negative id) and the sender (``from``, Bot API Message.from) are different, and a group
        message needs ``user_id``. A leading /word, ``@botname`` suffix included, gets its
        bot_command entity (Bot API MessageEntity type "bot_command": "/start@jobs_bot").
        """
        if chat_id < 0 and user_id is None:
            raise ValueError("a group message needs the sender's user_id")
        user = user_id if user_id is not None else chat_id
        message: dict[str, Any] = {
            "message_id": self._next_message, "date": int(time.time()), "text": text,
            "chat": chat_object(chat_id),
            "from": {"id": user, "is_bot": False, "first_name": f"user{user}"},
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self._next_message += 1
        return self._push({"message": message})

    def push_callback(self, chat_id: int, data: str, user_id: int | None = None, message_id: int = 1) -> int:
        """Queue an inline-button press on one of the bot's messages."""
        user = user_id if user_id is not None else chat_id
        original = next((m for m in self.sent if m.message_id == message_id), None)
        text = original.text if original is not None else "alert"
        query = {
            "id": f"cb{self._next_update}", "chat_instance": "ci", "data": data,
            "from": {"id": user, "is_bot": False, "first_name": f"user{user}", "username": f"name{user}"},
            "message": {"message_id": message_id, "date": int(time.time()), "text": text,
                        "chat": chat_object(chat_id), "from": BOT},
        }
        return self._push({"callback_query": query})

    def push_service(self, chat_id: int, fields: dict[str, Any], user_id: int = 1) -> int:
        """Queue a service message (no text) in ``chat_id``, e.g. ``{"migrate_to_chat_id": new}``."""
        message = {"message_id": self._next_message, "date": int(time.time()), "chat": chat_object(chat_id),
                   "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}, **fields}
        self._next_message += 1
        return self._push({"message": message})

    # ---- chat rules ----------------------------------------------------------------------------
    def migrate(self, old: int, new: int, announce: bool = True) -> None:
        """The group ``old`` became the supergroup ``new``.

        Bot API, ResponseParameters: "migrate_to_chat_id — The group has been migrated to a supergroup
        with the specified identifier"; a send to the old id then fails with 400 and that parameter
        (PTB raises ChatMigrated for it: telegram/request/_baserequest.py). Bot API, Message: the old
        group gets a service message with ``migrate_to_chat_id`` and the supergroup one with
        ``migrate_from_chat_id``.
        """
        self.migrated[old] = new
        if announce:
            self.push_service(old, {"migrate_to_chat_id": new})
            self.push_service(new, {"migrate_from_chat_id": old})

    def block(self, chat_id: int, description: str = "") -> None:
        """403 Forbidden for every send to ``chat_id`` (PTB: HTTP 403 → telegram.error.Forbidden).

        The descriptions are the ones the service returns: "Forbidden: bot was blocked by the user"
        (private chat) and "Forbidden: bot was kicked from the group chat" (group).
        """
        self.blocked[chat_id] = description or ("Forbidden: bot was blocked by the user" if chat_id > 0
                                                else "Forbidden: bot was kicked from the group chat")

    def unblock(self, chat_id: int) -> None:
        self.blocked.pop(chat_id, None)

    def flood_chat(self, chat_id: int, retry_after_s: float) -> None:
        """Flood control for one chat: 429 with parameters.retry_after (Bot API ResponseParameters:
        "the number of seconds left to wait before the request can be repeated"), counted down on
        ``clock``; a send after the wait succeeds, one before it gets the remaining seconds."""
        self.flood_until[chat_id] = self.clock() + retry_after_s

    def _push(self, payload: dict[str, Any]) -> int:
        update_id = self._next_update
        self._next_update += 1
        self.updates.append({"update_id": update_id, **payload})
        self._new_update.set()
        return update_id

    # ---- assertions helpers --------------------------------------------------------------------
    def sent_to(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def wait_sent(self, count: int, timeout_s: float = 5.0, chat_id: int | None = None) -> list[SentMessage]:
        """Wait until at least ``count`` messages were sent (to ``chat_id`` if given)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            found = self.sent if chat_id is None else self.sent_to(chat_id)
            if len(found) >= count:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"expected {count} sent message(s), got {len(found)}: "
                                     f"{[m.text[:60] for m in found]}")
            self._new_sent.clear()
            try:
                await asyncio.wait_for(self._new_sent.wait(), timeout=min(remaining, 0.2))
            except TimeoutError:
                pass

    # ---- the API -------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._refused:
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPServiceUnavailable()
        method = request.path.rsplit("/", 1)[-1]
        params, photo = await self._params(request)
        self.calls.append((method, params))
        failure = self._fault_for(method) or self._chat_rule(method, params)
        if failure is not None:
            return failure
        return await self._answer(method, params, photo)

    def _chat_rule(self, method: str, params: dict[str, Any]) -> web.Response | None:
        """The per-chat answers of the real service for a send: migrated, blocked, flood wait, limits."""
        if method not in ("sendMessage", "sendPhoto") or "chat_id" not in params:
            return None
        chat = int(params["chat_id"])
        if chat in self.migrated:
            return self._reject(method, chat, 400, "Bad Request: group chat was upgraded to a supergroup chat",
                                {"migrate_to_chat_id": self.migrated[chat]})
        if chat in self.blocked:
            return self._reject(method, chat, 403, self.blocked[chat])
        left = self.flood_until.get(chat, float("-inf")) - self.clock()
        if left > 0:  # retry_after is a whole number of seconds
            return self._reject(method, chat, 429, f"Too Many Requests: retry after {math.ceil(left)}",
                                {"retry_after": math.ceil(left)})
        return self._limit_rule(method, chat, params)

    def _limit_rule(self, method: str, chat: int, params: dict[str, Any]) -> web.Response | None:
        def length(text: str) -> int:
            return visible_length(text) if params.get("parse_mode") == "HTML" else len(text)

        if method == "sendPhoto" and length(str(params.get("caption", ""))) > CAPTION_LIMIT:
            return self._reject(method, chat, 400, "Bad Request: message caption is too long")
        if method == "sendMessage":
            text = str(params.get("text", ""))
            if not text.strip():
                return self._reject(method, chat, 400, "Bad Request: message text is empty")
            if length(text) > TEXT_LIMIT:
                return self._reject(method, chat, 400, "Bad Request: message is too long")
        return None

    def _reject(self, method: str, chat: int, status: int, description: str,
                parameters: dict[str, Any] | None = None) -> web.Response:
        self.rejected.append((method, chat, status, description))
        return _error(status, description, parameters)

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], bytes | None]:
        form = await request.post()
        params: dict[str, Any] = {}
        photo: bytes | None = None
        for key, value in form.items():
            if isinstance(value, web.FileField):
                photo = value.file.read()
                continue
            text = str(value)
            try:
                params[key] = json.loads(text) if text[:1] in "[{" else text
            except ValueError:
                params[key] = text
        if photo is None and isinstance(params.get("photo"), str) and params["photo"].startswith("attach://"):
            photo = b""
        return params, photo

    def _fault_for(self, method: str) -> web.Response | None:
        if self.down is not None:
            return _error(self.down, "service down")
        for fault in self._faults:
            if fault.method in (method, "*") and fault.times > 0:
                fault.times -= 1
                extra = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
                return _error(fault.status, fault.description, extra)
        return None

    async def _answer(self, method: str, params: dict[str, Any], photo: bytes | None) -> web.Response:
        if method == "getUpdates":
            return _ok(await self._get_updates(params))
        refusal = self._formatting_problem(method, params)
        if refusal is not None:
            return _error(400, f"Bad Request: {refusal}")
        if method in ("sendMessage", "sendPhoto"):
            if self.send_delay_s:
                await asyncio.sleep(self.send_delay_s)
            return _ok(self._record_sent(method, params, photo))
        if method in ("editMessageText", "editMessageReplyMarkup"):
            self.edits.append({"method": method, **params})
            return _ok(True)
        if method == "setMyCommands":
            scope = params.get("scope")
            names = [c["command"] for c in params.get("commands", [])]
            self.command_scopes[json.dumps(scope, sort_keys=True) if scope else "default"] = names
            if not scope:
                self.commands_set = list(params.get("commands", []))
        if method == "answerCallbackQuery":
            self.callback_answers.append(params)
        if method == "getMe":
            return _ok(BOT)
        return _ok(True)

    def _formatting_problem(self, method: str, params: dict[str, Any]) -> str | None:
        """Telegram's answer to bad HTML markup (see tests/fakes/telegram_html.py); an edit's text
        has the sendMessage limit: "1-4096 characters after entities parsing"."""
        field_name = "caption" if method == "sendPhoto" else "text"
        if method not in ("sendMessage", "sendPhoto", "editMessageText") or field_name not in params:
            return None
        text = str(params[field_name])
        if params.get("parse_mode") == "HTML":
            problem = html_problem(text)
            if problem is not None:
                return problem
        if method == "editMessageText" and visible_length(text) > TEXT_LIMIT:
            return "message is too long"
        return None

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0) or 0)
        # Like Telegram: asking with an offset confirms (forgets) every update below it, for every client.
        self._confirmed = max(self._confirmed, offset)
        offset = max(offset, self._confirmed)
        pending = [u for u in self.updates if u["update_id"] >= offset]
        if not pending:
            self._new_update.clear()
            hold = min(float(params.get("timeout", 0) or 0), self.hold_s)
            try:
                await asyncio.wait_for(self._new_update.wait(), timeout=hold)
            except TimeoutError:
                pass
            pending = [u for u in self.updates if u["update_id"] >= offset]
        return pending

    def _record_sent(self, method: str, params: dict[str, Any], photo: bytes | None) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        text = str(params.get("text", params.get("caption", "")))
        message_id = self._next_message
        self._next_message += 1
        markup = params.get("reply_markup")
        mode = str(params.get("parse_mode", ""))
        self.sent.append(SentMessage(method, chat_id, _visible(text, mode), self.clock(),
                                     markup if isinstance(markup, dict) else None, photo, message_id, mode, text))
        self._new_sent.set()
        return {"message_id": message_id, "date": int(time.time()), "text": text,
                "chat": chat_object(chat_id), "from": BOT}


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
