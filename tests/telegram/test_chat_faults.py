"""How real Telegram fails one chat at a time: a group that became a supergroup, a chat that blocked
the bot, a flood wait, a caption too long. None of them may hold up another chat or lose a message."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from src.app.wire_cockpit import CHATS_FILE, OUTBOX_FILE
from src.config.telegram import TelegramConfig
from src.core.events import Alert
from src.telegram.access import Access
from src.telegram.actions import Cockpit
from src.telegram.bot import TelegramBot
from src.telegram.chats import ChatBook
from src.telegram.notifier import TelegramNotifier
from src.telegram.outbox import CAPTION_LIMIT, MAX_TEXT, Outbox, OutgoingMessage, PendingMessages
from tests.fakes.fake_telegram import FakeTelegram
from tests.fakes.fake_time import FakeTime
from tests.telegram.conftest import ADMIN, ADMIN2, TOKEN, VIEWER, CockpitFactory, Harness

OLD_GROUP, SUPERGROUP = -4711, -1_000_000_004_711
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def chat_file(root: Path) -> dict[str, object]:
    return json.loads((root / "state" / CHATS_FILE).read_text())


async def group_harness(cockpit_factory: CockpitFactory, root: Path) -> Harness:
    return await cockpit_factory(root=root, admins=(ADMIN, ADMIN2), viewers=(VIEWER,), groups=(OLD_GROUP,),
                                 wait_started=False)


async def test_a_migrated_group_is_followed_and_remembered(cockpit_factory: CockpitFactory, tmp_path: Path) -> None:
    root = tmp_path / "bot"
    h = await group_harness(cockpit_factory, root)
    h.fake.migrate(OLD_GROUP, SUPERGROUP, announce=False)  # only the 400 tells the bot
    await h.fake.wait_sent(1, chat_id=SUPERGROUP)  # the start-up note reached the group under its new id
    moved = await h.fake.wait_sent(2, chat_id=ADMIN)
    assert "Telegram group moved" in moved[-1].text
    assert str(SUPERGROUP) in moved[-1].text
    assert chat_file(root)["migrated"] == {str(OLD_GROUP): SUPERGROUP}
    h.ctx.bus.publish(Alert("warning", "after the move", "x", key="m1"))
    await h.fake.wait_sent(2, chat_id=SUPERGROUP)
    assert [r[:3] for r in h.fake.rejected] == [("sendMessage", OLD_GROUP, 400)]  # asked once, never again
    await h.stop()
    again = await group_harness(cockpit_factory, root)  # a restart keeps the new id
    again.ctx.bus.publish(Alert("warning", "after the restart", "x", key="m2"))
    await again.fake.wait_sent(4, chat_id=SUPERGROUP)
    assert len(again.fake.rejected) == 1
    assert again.fake.sent_to(OLD_GROUP) == []


async def test_the_migration_service_message_is_enough(cockpit_factory: CockpitFactory, tmp_path: Path) -> None:
    h = await group_harness(cockpit_factory, tmp_path / "bot")
    await h.fake.wait_sent(1, chat_id=OLD_GROUP)
    h.fake.migrate(OLD_GROUP, SUPERGROUP)  # Telegram also posts migrate_to / migrate_from service messages
    moved = await h.fake.wait_sent(2, chat_id=ADMIN)
    assert "Telegram group moved" in moved[-1].text
    h.ctx.bus.publish(Alert("warning", "next", "x", key="n"))
    await h.fake.wait_sent(1, chat_id=SUPERGROUP)
    assert h.fake.rejected == []  # the bot never even tried the old id
    assert h.bot is not None
    assert h.bot.outbox.stats["migrated"] == 1


async def test_a_chat_that_blocked_the_bot_is_given_up_and_announced(cockpit: Harness) -> None:
    cockpit.fake.block(VIEWER)
    for i in range(3):
        cockpit.ctx.bus.publish(Alert("warning", f"alert {i}", "x", key=f"b{i}"))
    sent = await cockpit.fake.wait_sent(5, chat_id=ADMIN)  # start-up note, 3 alerts, the announcement
    assert any("Telegram chat unreachable" in m.text and str(VIEWER) in m.text for m in sent)
    assert [m.text.splitlines()[0] for m in sent if "alert" in m.text] == [f"⚠️ alert {i}" for i in range(3)]
    await cockpit.settle()
    assert [r[1:3] for r in cockpit.fake.rejected] == [(VIEWER, 403)]  # one refusal, no retries
    cockpit.ctx.bus.publish(Alert("warning", "later", "x", key="b9"))
    await cockpit.fake.wait_sent(6, chat_id=ADMIN)
    assert len(cockpit.fake.rejected) == 1
    cockpit.fake.unblock(VIEWER)  # the person unblocks the bot and writes to it: it hears again
    assert "replay mode" in (await cockpit.ask(VIEWER, "/status")).text


async def test_a_long_caption_is_sent_whole(cockpit: Harness) -> None:
    text = "Equity curve, 30 days\n" + "\n".join(f"day {i}: " + "x" * (i % 70) for i in range(180))
    assert len(text) > CAPTION_LIMIT + MAX_TEXT
    assert cockpit.bot is not None
    before = len(cockpit.fake.sent_to(ADMIN))
    cockpit.bot.outbox.enqueue(ADMIN, text, photo=PNG)
    sent = await cockpit.fake.wait_sent(before + 3, chat_id=ADMIN)
    photo, *rest = sent[before:]
    assert photo.method == "sendPhoto"
    assert photo.photo == PNG
    assert photo.text.startswith("Equity curve, 30 days")
    assert all(m.method == "sendMessage" for m in rest)
    assert "".join(m.text for m in rest) == text
    assert all(m.text.endswith("\n") for m in rest[:-1])  # cut on line boundaries
    assert cockpit.fake.rejected == []


# ---- ten simulated minutes through the real client, on a fake clock -------------------------------
@dataclass
class Sim:
    clock: FakeTime
    fake: FakeTelegram
    outbox: Outbox
    notifier: TelegramNotifier
    bot: TelegramBot


@pytest.fixture
async def sim(tmp_path: Path, fake_tg: FakeTelegram) -> AsyncIterator[Sim]:
    """The production outbox, notifier and bot sender on a fake clock (the fake's flood waits use it too)."""
    clock = FakeTime(start_s=1000.0)
    fake_tg.clock = clock
    cfg = TelegramConfig(base_url=fake_tg.base_url, request_timeout_s=2)
    chats = ChatBook(tmp_path / CHATS_FILE)
    access = Access((ADMIN, ADMIN2), (VIEWER,), (OLD_GROUP,), chats=chats)
    notifier: list[TelegramNotifier] = []
    outbox = Outbox(cfg, tmp_path / OUTBOX_FILE, monotonic=clock, chats=chats,
                    alert=lambda key, title, text: notifier[0].notify(f"{title}\n{text}", level="action",
                                                                      key=key, audience="admins"))
    notifier.append(TelegramNotifier(outbox, access))
    bot = TelegramBot(TOKEN, cfg, cast(Cockpit, None), outbox, access)  # only its sender is used
    await bot.app.initialize()
    outbox.attach(bot)
    try:
        yield Sim(clock, fake_tg, outbox, notifier[0], bot)
    finally:
        await bot.app.shutdown()


async def run_for(sim: Sim, seconds: float, events: dict[float, list[object]]) -> None:
    """Advance the fake clock through the outbox's own waits, firing ``events`` (at offsets) on time."""
    start = sim.clock.now
    due = sorted(events)
    for _ in range(100_000):
        while due and sim.clock.now - start >= due[0]:
            for action in events[due.pop(0)]:
                action()  # type: ignore[operator]
        if sim.clock.now - start >= seconds and not sim.outbox.pending:
            return
        delay = await sim.outbox.send_once()
        if delay == 0.0:
            continue
        next_event = start + due[0] - sim.clock.now if due else float("inf")
        sim.clock.now += min(delay if delay is not None else float("inf"), next_event, 1.0)
    raise AssertionError("the simulation did not settle")


WAIT2, WAIT_GROUP = 70.0, 100.0  # flood waits from 125 s: both still running when alert 3 is due


async def test_ten_minutes_of_a_migrated_group_and_flood_waits_lose_nothing(sim: Sim) -> None:
    people = (ADMIN, ADMIN2, VIEWER)
    events: dict[float, list[object]] = {
        0.0: [lambda: sim.fake.migrate(OLD_GROUP, SUPERGROUP, announce=False)],
        125.0: [lambda: sim.fake.flood_chat(ADMIN2, WAIT2), lambda: sim.fake.flood_chat(SUPERGROUP, WAIT_GROUP)],
    }
    for minute in range(10):
        events.setdefault(minute * 60.0, []).append(
            lambda m=minute: sim.notifier.notify(f"alert {m}", level="warning", key=f"a{m}"))
    await run_for(sim, 600.0, events)
    expected = [f"alert {m}" for m in range(10)]
    for chat in (*people, SUPERGROUP):
        assert [m.text for m in sim.fake.sent_to(chat) if m.text.startswith("alert")] == expected, chat
    assert sim.fake.sent_to(OLD_GROUP) == []
    for admin in (ADMIN, ADMIN2):
        assert sum("Telegram group moved" in m.text for m in sim.fake.sent_to(admin)) == 1
    assert [r[1:3] for r in sim.fake.rejected].count((OLD_GROUP, 400)) == 1
    assert [r[1:3] for r in sim.fake.rejected].count((ADMIN2, 429)) == 1  # the wait was honoured, not probed
    assert [r[1:3] for r in sim.fake.rejected].count((SUPERGROUP, 429)) == 1
    at = {chat: {m.text: m.at - 1000.0 for m in sim.fake.sent_to(chat)} for chat in (*people, SUPERGROUP)}
    assert at[ADMIN2]["alert 3"] >= 125.0 + WAIT2
    assert at[SUPERGROUP]["alert 3"] >= 125.0 + WAIT_GROUP
    for chat in (ADMIN, VIEWER):  # alert 3 (at 180 s) reached them while the others still waited
        assert at[chat]["alert 3"] < 125.0 + WAIT2


async def test_a_blocked_chat_does_not_hold_up_the_others(sim: Sim) -> None:
    sim.fake.block(VIEWER)
    events: dict[float, list[object]] = {
        m * 60.0: [lambda m=m: sim.notifier.notify(f"alert {m}", level="warning", key=f"a{m}")] for m in range(5)}
    await run_for(sim, 300.0, events)
    for chat in (ADMIN, ADMIN2):
        assert [m.text for m in sim.fake.sent_to(chat) if m.text.startswith("alert")] == [
            f"alert {m}" for m in range(5)]
    assert [r[1:3] for r in sim.fake.rejected] == [(VIEWER, 403)]
    assert sim.outbox.chats.is_dead(VIEWER)
    assert VIEWER not in sim.notifier.access.recipients("all")


def test_queued_messages_follow_a_migration_across_a_restart(tmp_path: Path) -> None:
    book = ChatBook(tmp_path / CHATS_FILE)
    book.migrate(OLD_GROUP, SUPERGROUP)
    book.save()
    pending = PendingMessages(messages=[OutgoingMessage(id="m1", chat_id=OLD_GROUP, text="queued before")])
    (tmp_path / OUTBOX_FILE).write_text(pending.model_dump_json())
    outbox = Outbox(TelegramConfig(), tmp_path / OUTBOX_FILE, chats=ChatBook(tmp_path / CHATS_FILE))
    assert [m.chat_id for m in outbox.pending] == [SUPERGROUP]
    outbox.enqueue(OLD_GROUP, "queued after")
    assert [m.chat_id for m in outbox.pending] == [SUPERGROUP, SUPERGROUP]


def test_a_corrupt_chat_file_is_quarantined_and_the_configured_ids_hold(tmp_path: Path) -> None:
    path = tmp_path / CHATS_FILE
    path.write_text('{"migrated": {"-4711": "not a chat"}}')
    book = ChatBook(path)
    assert book.resolve(OLD_GROUP) == OLD_GROUP
    assert not path.exists()
    assert len(list((tmp_path / "quarantine").iterdir())) == 1


def test_a_migration_loop_in_the_file_is_not_followed_forever(tmp_path: Path) -> None:
    book = ChatBook()
    book.migrate(-1, -2)
    book.migrate(-2, -1)
    assert book.resolve(-1) in (-1, -2)


async def test_a_dead_chat_is_written_atomically(tmp_path: Path) -> None:
    book = ChatBook(tmp_path / CHATS_FILE)
    book.mark_dead(VIEWER, "Forbidden: bot was blocked by the user")
    await book.persist()
    assert ChatBook(tmp_path / CHATS_FILE).is_dead(VIEWER)
    left = await asyncio.to_thread(lambda: [p.name for p in tmp_path.iterdir()])
    assert left == [CHATS_FILE]  # no temporary file left behind
