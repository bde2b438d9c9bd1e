"""Flood control, de-duplication, outages and restarts: messages are delayed, never lost, never blocking."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from src.app.wire_cockpit import OUTBOX_FILE
from src.config.telegram import TelegramConfig
from src.core.events import Alert
from src.telegram.outbox import MAX_TEXT, Outbox, PendingMessages
from src.telegram.render.format import split_lines
from tests.fakes.fake_telegram import FakeTelegram
from tests.telegram.conftest import ADMIN, ADMIN2, GROUP, VIEWER, CockpitFactory, Harness


def alert(i: int | str, key: str | None = None) -> Alert:
    return Alert("warning", f"alert {i}", "something to read", key=key if key is not None else f"k{i}")


def texts(h: Harness, chat: int) -> list[str]:
    return [m.text.splitlines()[0] for m in h.fake.sent_to(chat)]


def pending_on_disk(h: Harness) -> int:
    path = h.ctx.paths.state / OUTBOX_FILE
    return len(PendingMessages.model_validate_json(path.read_bytes()).messages) if path.exists() else 0


@contextlib.asynccontextmanager
async def lag_meter(period_s: float = 0.005) -> AsyncIterator[list[float]]:
    """A stand-in for the trading loop: records how late each of its wake-ups is."""
    lags: list[float] = []

    async def tick() -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(period_s)
            lags.append(loop.time() - start - period_s)

    task = asyncio.create_task(tick())
    try:
        yield lags
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_flood_control_holds_under_a_burst(cockpit_factory: CockpitFactory) -> None:
    per_chat, per_group, overall = 0.06, 0.15, 40.0
    h = await cockpit_factory(admins=(ADMIN,), groups=(GROUP,), telegram={
        "per_chat_interval_s": per_chat, "group_interval_s": per_group, "global_per_second": overall})
    for i in range(8):
        h.ctx.bus.publish(alert(i))
    for _ in range(3):
        h.ctx.bus.publish(alert("dup", key="same-condition"))
    for chat in (ADMIN, GROUP, VIEWER):
        await h.fake.wait_sent(10, timeout_s=10, chat_id=chat)  # start-up note + 8 alerts + 1 of the 3 repeats
    for chat, gap in ((ADMIN, per_chat), (VIEWER, per_chat), (GROUP, per_group)):
        stamps = [m.at for m in h.fake.sent_to(chat)]
        assert min(b - a for a, b in itertools.pairwise(stamps)) >= gap, chat
        assert texts(h, chat).count("⚠️ alert dup") == 1
        assert [t for t in texts(h, chat) if "alert" in t][:8] == [f"⚠️ alert {i}" for i in range(8)]
    every = sorted(m.at for m in h.fake.sent)
    assert min(b - a for a, b in itertools.pairwise(every)) >= 1.0 / overall
    await asyncio.sleep(0.3)
    assert len(h.fake.sent_to(ADMIN)) == 10  # nothing else trickles in later


@pytest.mark.parametrize("outage", ["http_503", "connection_refused"])
async def test_outage_delays_without_losing_or_blocking(cockpit: Harness, outage: str) -> None:
    fake = cockpit.fake
    before = len(fake.sent_to(ADMIN))
    async with lag_meter() as lags:
        if outage == "http_503":
            fake.down = 503
        else:
            await fake.refuse()
        for i in range(6):
            cockpit.ctx.bus.publish(alert(i))
        await asyncio.sleep(0.8)
        assert len(fake.sent_to(ADMIN)) == before  # nothing got through ...
        assert pending_on_disk(cockpit) >= 6  # ... and it is all safe on disk meanwhile
        if outage == "http_503":
            fake.down = None
        else:
            await fake.restore()
        await fake.wait_sent(before + 6, timeout_s=10, chat_id=ADMIN)
    assert texts(cockpit, ADMIN)[before:] == [f"⚠️ alert {i}" for i in range(6)]
    assert max(lags) < 0.25, f"the loop stalled {max(lags):.3f}s during the outage"
    assert len(lags) > 20  # the meter kept sampling all through the outage (count depends on load)
    assert "replay mode" in (await cockpit.ask(ADMIN, "/status")).text  # commands work again, too


async def test_flood_wait_from_telegram_is_respected(cockpit: Harness) -> None:
    cockpit.fake.fail("sendMessage", 429, retry_after=1, description="Too Many Requests: retry after 1")
    before = len(cockpit.fake.sent_to(ADMIN))
    started = time.monotonic()
    cockpit.ctx.bus.publish(Alert("action", "kill switch", "drawdown limit reached", key="ks"))
    await cockpit.fake.wait_sent(before + 1, timeout_s=5, chat_id=ADMIN)
    assert time.monotonic() - started >= 0.95
    assert cockpit.bot is not None
    assert cockpit.bot.outbox.stats["failed_attempts"] == 1


async def test_a_message_telegram_refuses_is_dropped_not_retried_forever(cockpit: Harness) -> None:
    cockpit.fake.fail("sendMessage", 400, description="Bad Request: chat not found")
    cockpit.ctx.bus.publish(Alert("action", "first", "refused", key="a"))
    cockpit.ctx.bus.publish(Alert("action", "second", "delivered", key="b"))
    sent = await cockpit.fake.wait_sent(2, chat_id=ADMIN)  # start-up note + second
    assert "second" in sent[-1].text
    assert not any("first" in m.text for m in sent)
    second_admin = await cockpit.fake.wait_sent(3, chat_id=ADMIN2)
    assert any("first" in m.text for m in second_admin)  # only the refused copy is gone
    assert cockpit.bot is not None
    assert cockpit.bot.outbox.stats["rejected"] == 1


async def test_pending_messages_survive_a_restart(cockpit_factory: CockpitFactory, fake_tg: FakeTelegram,
                                                  tmp_path: Path) -> None:
    root = tmp_path / "bot"
    fake_tg.down = 503  # Telegram is down for the whole first life of the bot
    first = await cockpit_factory(root=root, wait_started=False)
    for i in range(4):
        first.ctx.bus.publish(alert(i))
    await asyncio.sleep(0.3)
    await first.stop()
    assert pending_on_disk(first) >= 4
    assert fake_tg.sent == []
    fake_tg.down = None
    second = await cockpit_factory(root=root, wait_started=False)
    await fake_tg.wait_sent(6, timeout_s=10, chat_id=ADMIN)  # 2 start-up notes + 4 alerts
    alerts = [t for t in texts(second, ADMIN) if "alert" in t]
    assert alerts == [f"⚠️ alert {i}" for i in range(4)]  # in order, each exactly once


async def test_shutdown_sends_a_final_message_in_bounded_time(cockpit: Harness) -> None:
    started = time.monotonic()
    await cockpit.stop()
    assert time.monotonic() - started < cockpit.ctx.config.supervisor.shutdown_timeout_s
    assert any("stopping" in m.text for m in cockpit.fake.sent_to(ADMIN))
    assert not any("stopping" in m.text for m in cockpit.fake.sent_to(VIEWER))


def test_corrupt_queue_file_is_quarantined_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "state" / OUTBOX_FILE
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    outbox = Outbox(TelegramConfig(), path)
    assert outbox.pending == []
    assert not path.exists()
    assert len(list((tmp_path / "state" / "quarantine").iterdir())) == 1


def test_long_text_is_split_without_losing_a_character() -> None:
    text = "\n".join(f"line {i} " + "x" * (i % 90) for i in range(400)) + "\n" + "y" * 9000
    parts = split_lines(text, MAX_TEXT)
    assert len(parts) > 2
    assert all(len(p) <= MAX_TEXT for p in parts)
    assert "".join(parts) == text


async def test_queue_is_bounded_and_deduplicates(tmp_path: Path) -> None:
    outbox = Outbox(TelegramConfig(max_pending=10), tmp_path / OUTBOX_FILE)
    assert outbox.enqueue(1, "a", key="k")
    assert not outbox.enqueue(1, "a again", key="k")
    assert outbox.enqueue(2, "a", key="k")  # the same condition is news for another chat
    for i in range(20):
        outbox.enqueue(1, f"m{i}")
    assert len(outbox.pending) == 10
    assert outbox.pending[-1].text == "m19"
    assert outbox.stats == {**outbox.stats, "deduped": 1, "dropped": 12}


async def test_a_newer_report_supersedes_a_pending_one(tmp_path: Path) -> None:
    outbox = Outbox(TelegramConfig(), tmp_path / OUTBOX_FILE)
    for hour in range(3):
        outbox.enqueue(1, f"status at {hour}h", key="scheduled:status", replace=True)
        outbox.enqueue(1, f"alert {hour}", key=f"a{hour}")
    assert [m.text for m in outbox.pending] == ["alert 0", "alert 1", "status at 2h", "alert 2"]
    assert outbox.stats["superseded"] == 2
    assert outbox.stats["deduped"] == 0


async def test_a_broken_disk_does_not_stop_the_queue(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    outbox = Outbox(TelegramConfig(), blocker / OUTBOX_FILE)  # every read and write fails with OSError
    outbox.enqueue(1, "still queued")
    task = asyncio.create_task(outbox.run())
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [m.text for m in outbox.pending] == ["still queued"]
    assert outbox.persist_error
    assert sum("cannot be saved" in r.getMessage() for r in caplog.records) == 1


async def test_telegram_down_at_start_delays_the_bot_without_crashing_it(cockpit_factory: CockpitFactory,
                                                                          fake_tg: FakeTelegram) -> None:
    fake_tg.fail("getMe", 503, times=2)
    fake_tg.fail("deleteWebhook", 502)  # PTB retries the bootstrap itself (about 1 s later)
    h = await cockpit_factory(telegram={"retry_initial_s": 0.05})
    assert "replay mode" in (await h.ask(ADMIN, "/status")).text
    assert h.supervisor.health["telegram"].restarts == 0
    assert h.fake.methods().count("getMe") == 3
    assert h.fake.methods().count("deleteWebhook") == 2
