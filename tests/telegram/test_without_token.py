"""Without a token the same scheduled messages reach the log; the gate's commands still serve the scripts."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from src.control.golive import binding_of
from src.state.inbox import InboxProcessor, drop_command, read_result
from src.telegram.access import Access
from src.telegram.actions import Cockpit
from src.telegram.notifier import LogNotifier
from src.telegram.scheduler import Scheduler
from tests.fakes.fake_telegram import FakeTelegram
from tests.fakes.fake_time import FakeTime
from tests.rig import RigView
from tests.telegram.conftest import make_ctx, start_harness, wire_harness


async def test_no_token_means_log_notifier_and_no_bot(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        h = await start_harness(make_ctx(tmp_path, token=""), fake)
        try:
            assert h.bot is None
            assert isinstance(h.ctx.services["notifier"], LogNotifier)
            assert "telegram" not in h.supervisor.health
            assert "telegram_scheduler" in h.supervisor.health
            await asyncio.sleep(0.2)
            assert fake.calls == []  # nothing ever talks to Telegram
        finally:
            await h.stop()


async def test_scheduled_status_and_heartbeat_go_to_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ctx = make_ctx(tmp_path, token="", telegram={"status_every_minutes": 60, "heartbeat_every_hours": 6})
    wire_harness(ctx, FakeTelegram())
    gate = ctx.services["golive"]
    clock = FakeTime()
    periods: list[float] = []

    async def sleep(seconds: float) -> None:
        if seconds in periods:  # each loop fires once, then waits for ever (until cancelled)
            await asyncio.Event().wait()
        periods.append(seconds)
        await clock.sleep(seconds)

    scheduler = Scheduler(ctx, Cockpit(ctx, gate, gate.codes, RigView(ctx)), ctx.services["notifier"], sleep=sleep)
    caplog.set_level(logging.INFO, logger="notify")
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert sorted(periods) == [3600.0, 6 * 3600.0]
    logged = [r.getMessage() for r in caplog.records if r.name == "notify"]
    assert logged[0].startswith("▶️ AI Trading Lab started (replay mode)")
    assert any("replay mode · running" in m and m.startswith("🕐") for m in logged)
    assert any(m.startswith("💓 heartbeat: alive") for m in logged)
    assert scheduler.sent == {"status": 1, "heartbeat": 1}


async def test_golive_commands_serve_the_script_inbox(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, token="", config={"mode": "live", "live": {"allow_live_trading": True}})
    h = wire_harness(ctx, FakeTelegram())
    proc = InboxProcessor(ctx.paths.inbox, ctx.paths.outbox, ctx.services["commands"])
    typed = {"typed": "GO LIVE"}
    first = drop_command(ctx.paths.inbox, "golive_request", {**typed, "binding": binding_of("s3cret")}, actor="ops")
    await proc.process_once()
    request = read_result(ctx.paths.outbox, first)
    assert request is not None
    assert request.ok
    assert len(request.data["code"]) == 6
    bad = drop_command(ctx.paths.inbox, "golive_confirm", {**typed, "code": "not-it", "proof": "s3cret"}, actor="ops")
    await proc.process_once()
    assert not read_result(ctx.paths.outbox, bad).ok
    assert not h.control.state.live_confirmed
    first = drop_command(ctx.paths.inbox, "golive_request", {**typed, "binding": binding_of("s3cret")}, actor="ops")
    await proc.process_once()
    request = read_result(ctx.paths.outbox, first)
    assert request is not None
    assert request.ok
    good = drop_command(ctx.paths.inbox, "golive_confirm", {**typed, "code": request.data["code"], "proof": "s3cret"},
                        actor="ops")
    await proc.process_once()
    assert read_result(ctx.paths.outbox, good).ok
    assert h.control.state.live_confirmed
    assert h.control.state.live_confirmed_by == "script:ops"


def test_stranger_logging_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeTime()
    access = Access([1], [2], log_interval_s=60, monotonic=clock)
    caplog.set_level(logging.WARNING, logger="src.telegram.access")
    for _ in range(5):
        access.note_stranger(99, 99, "/status")
    clock.now += 61
    access.note_stranger(99, 99, "/status")
    access.note_stranger(98, 98, "/status")
    assert access.stranger_messages == 7
    assert access.stranger_logs == 3
    assert len(caplog.records) == 3
    assert access.role(1) == "admin"
    assert access.role(2) == "viewer"
    assert access.role(99) is None
