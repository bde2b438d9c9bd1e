"""The supervisor: runs every component as a named task, restarts the ones that crash, stops cleanly.

A crashing component is restarted with exponential backoff; three crashes inside ten minutes
(configurable) raise an alert so a person hears about a flapping part before it matters. On
SIGINT/SIGTERM every task is cancelled, the ``close`` hooks flush state, and the whole shutdown
is bounded by a timeout so systemd never has to SIGKILL us.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from src.app.failures import is_network_failure, network_line
from src.core.enums import Mode
from src.core.events import Alert
from src.runtime.context import AppContext, Component
from src.state.store import atomic_write_bytes

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]


@dataclass
class TaskHealth:
    """What the supervisor knows about one component."""

    name: str
    state: str = "starting"
    restarts: int = 0
    last_error: str = ""
    crash_times: deque[float] = field(default_factory=lambda: deque(maxlen=50))

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "restarts": self.restarts, "last_error": self.last_error}


class Heartbeat(BaseModel):
    """``state/heartbeat.json``: proof of life for scripts, the monitor and deploy health checks."""

    model_config = ConfigDict(extra="forbid")

    pid: int
    mode: Mode
    state: str
    started_at: str
    updated_at: str
    updated_at_epoch: float
    last_tick_at: str | None = None
    market_time_ms: int | None = None
    tasks: dict[str, dict[str, Any]] = {}
    bus: dict[str, dict[str, int]] = {}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Supervisor:
    """Owns the tasks of one bot process."""

    def __init__(self, ctx: AppContext, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.supervisor
        self._components: list[tuple[Component, bool]] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.health: dict[str, TaskHealth] = {}
        self._closers: list[tuple[str, Closer, str]] = []
        self._monotonic = monotonic
        self.started_at = time.time()
        self.last_tick_wall: float | None = None
        self.stop_event = asyncio.Event()
        self.state = "starting"

    def add(self, component: Component, restart: bool = True) -> None:
        """Register a component; ``restart=False`` for one-shot jobs."""
        self._components.append((component, restart))
        self.health[component.name] = TaskHealth(component.name)

    def on_shutdown(self, name: str, closer: Closer, phase: Literal["stop", "release"] = "stop") -> None:
        """Run ``closer`` during shutdown, after the tasks stop.

        ``stop`` steps (cancel orders, flush ledgers, send the last message) all run before any
        ``release`` step (close exchange clients, worker pools), so nothing still needs a client
        that was already closed; within a phase, steps run in registration order.
        """
        self._closers.append((name, closer, phase))

    def note_tick(self) -> None:
        self.last_tick_wall = time.time()

    def request_stop(self) -> None:
        self.stop_event.set()

    async def _guard(self, component: Component, restart: bool) -> None:
        health = self.health[component.name]
        while True:
            health.state = "running"
            try:
                await component.run()
                health.state = "done"
                return
            except asyncio.CancelledError:
                health.state = "stopped"
                raise
            except Exception as exc:
                health.last_error = f"{type(exc).__name__}: {exc}"[:300]
                health.state = "crashed"
                why = network_line(exc) if is_network_failure(exc) else ""
                if not why:
                    log.exception("component %s crashed", component.name)
                if not restart:
                    if why:
                        log.error("%s stopped: %s", component.name, why)
                    return
                await self._backoff(health, why)

    async def _backoff(self, health: TaskHealth, why: str = "") -> None:
        now = self._monotonic()
        health.crash_times.append(now)
        recent = [t for t in health.crash_times if now - t <= self.cfg.crash_alert_window_s]
        if len(recent) >= self.cfg.crash_alert_count:
            self.ctx.bus.publish(Alert(
                "action", f"{health.name} keeps crashing",
                f"{health.name} crashed {len(recent)} times in {self.cfg.crash_alert_window_s / 60:.0f} min; "
                f"last error: {health.last_error}", key=f"crash:{health.name}", ts_ms=self.ctx.clock.now_ms()))
        delay = min(self.cfg.restart_backoff_max_s,
                    self.cfg.restart_backoff_initial_s * 2 ** max(0, len(recent) - 1))
        health.state = "backoff"
        health.restarts += 1
        if why:  # one line, no traceback: an outage is expected and handled
            log.error("%s: %s; retrying in %.1fs (restart #%d), nothing new is traded from it meanwhile",
                      health.name, why, delay, health.restarts)
        else:
            log.warning("restarting %s in %.1fs (restart #%d)", health.name, delay, health.restarts)
        await asyncio.sleep(delay)

    def heartbeat(self) -> Heartbeat:
        now = time.time()
        return Heartbeat(
            pid=os.getpid(), mode=self.ctx.config.mode, state=self.state, started_at=_iso(self.started_at),
            updated_at=_iso(now), updated_at_epoch=now,
            last_tick_at=_iso(self.last_tick_wall) if self.last_tick_wall else None,
            market_time_ms=self.ctx.clock.now_ms() or None,
            tasks={n: h.as_dict() for n, h in self.health.items()}, bus=self.ctx.bus.stats())

    def write_heartbeat(self) -> None:
        self.ctx.store.save("heartbeat.json", self.heartbeat())

    async def _heartbeat_loop(self) -> None:
        while True:
            self.write_heartbeat()
            await asyncio.sleep(self.cfg.heartbeat_seconds)

    def _write_pid(self) -> None:
        atomic_write_bytes(self.ctx.paths.state / "bot.pid", f"{os.getpid()}\n".encode())

    async def run(self, duration_s: float | None = None) -> None:
        """Start everything, wait for a stop request (or ``duration_s``), then shut down."""
        self._write_pid()
        self.state = "running"
        for component, restart in self._components:
            self._tasks[component.name] = asyncio.create_task(self._guard(component, restart),
                                                              name=component.name)
        hb = asyncio.create_task(self._heartbeat_loop(), name="heartbeat")
        try:
            if duration_s is not None:
                await asyncio.wait_for(self.stop_event.wait(), timeout=duration_s)
            else:
                await self.stop_event.wait()
        except TimeoutError:
            log.info("run duration reached; shutting down")
        finally:
            await self.shutdown(hb)

    async def shutdown(self, hb: asyncio.Task[None] | None = None) -> None:
        """Cancel tasks in reverse start order, run closers, all within the shutdown timeout."""
        self.state = "stopping"
        started = time.monotonic()
        budget = self.cfg.shutdown_timeout_s
        tasks = list(self._tasks.values())[::-1] + ([hb] if hb else [])
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=budget * 0.5)
        ordered = [c for c in self._closers if c[2] == "stop"] + [c for c in self._closers if c[2] == "release"]
        for name, closer, _phase in ordered:
            remaining = budget - (time.monotonic() - started)
            try:
                await asyncio.wait_for(closer(), timeout=max(0.1, remaining))
            except Exception:
                log.exception("shutdown step %s failed", name)
        self.state = "stopped"
        self.write_heartbeat()
        (self.ctx.paths.state / "bot.pid").unlink(missing_ok=True)
        log.info("shutdown complete in %.2fs", time.monotonic() - started)
