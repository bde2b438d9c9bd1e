"""Supervisor: crashed tasks restart with backoff, flapping raises an alert, shutdown is bounded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from src.app.supervisor import Heartbeat, Supervisor
from src.core.events import Alert, Event
from tests.foundation.helpers import make_ctx

FAST = {"supervisor": {"restart_backoff_initial_s": 0.01, "restart_backoff_max_s": 0.05,
                       "heartbeat_seconds": 0.05, "shutdown_timeout_s": 1.0}}


class Flaky:
    name = "flaky"

    def __init__(self, fail_times: int) -> None:
        self.calls = 0
        self.fail_times = fail_times

    async def run(self) -> None:
        self.calls += 1
        if self.calls <= self.fail_times:
            raise RuntimeError(f"boom {self.calls}")
        await asyncio.Event().wait()


class Stubborn:
    """Ignores cancellation for a while, like a component stuck in a slow close."""

    name = "stubborn"

    async def run(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)
            raise


async def test_restart_backoff_and_crash_alert(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FAST)
    alerts: list[Event] = []

    async def on_alert(ev: Event) -> None:
        alerts.append(ev)

    sub = ctx.bus.subscribe("t", on_alert, kinds=("alert",))
    listener = asyncio.create_task(ctx.bus.run_subscriber(sub))
    sup = Supervisor(ctx)
    flaky = Flaky(fail_times=4)
    sup.add(flaky)
    await sup.run(duration_s=0.6)
    listener.cancel()
    assert flaky.calls == 5
    assert sup.health["flaky"].restarts == 4
    assert "boom 4" in sup.health["flaky"].last_error
    crash_alerts = [a for a in alerts if isinstance(a, Alert) and a.key == "crash:flaky"]
    assert len(crash_alerts) == 2  # at the 3rd and 4th crash inside the window
    assert crash_alerts[0].level == "action"


async def test_shutdown_is_bounded_and_writes_heartbeat(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FAST)
    sup = Supervisor(ctx)
    sup.add(Stubborn())
    closed: list[str] = []

    async def closer() -> None:
        closed.append("flushed")

    sup.on_shutdown("flush", closer)
    started = time.monotonic()
    await sup.run(duration_s=0.2)
    assert time.monotonic() - started < 0.2 + ctx.config.supervisor.shutdown_timeout_s + 0.5
    assert closed == ["flushed"]
    hb = ctx.store.load("heartbeat.json", Heartbeat)
    assert hb is not None
    assert hb.state == "stopped"
    assert "stubborn" in hb.tasks
    assert not (ctx.paths.state / "bot.pid").exists()


async def test_heartbeat_and_pid_while_running(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FAST)
    sup = Supervisor(ctx)
    sup.add(Flaky(0))
    run = asyncio.create_task(sup.run())
    await asyncio.sleep(0.2)
    hb = ctx.store.load("heartbeat.json", Heartbeat)
    assert hb is not None
    assert hb.state == "running"
    assert hb.tasks["flaky"]["state"] == "running"
    assert (ctx.paths.state / "bot.pid").read_text().strip().isdigit()
    sup.request_stop()
    await run


async def test_stop_steps_run_before_release_steps(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, FAST)
    sup = Supervisor(ctx)
    order: list[str] = []

    def step(name: str):
        async def run() -> None:
            order.append(name)
        return run

    sup.on_shutdown("exchange", step("close exchange"), phase="release")
    sup.on_shutdown("orders", step("cancel orders"))
    sup.on_shutdown("pool", step("stop pool"), phase="release")
    sup.on_shutdown("telegram", step("last message"))
    await sup.run(duration_s=0.05)
    assert order == ["cancel orders", "last message", "close exchange", "stop pool"]
