"""The basic control commands every surface shares: status, pause, resume, stop.

Telegram, the inbox (scripts) and the console all call these through one
:class:`~src.state.inbox.CommandRegistry`, so a pause from the phone and a pause from a shell are
the same code path.
"""

from __future__ import annotations

from typing import Any

from src.app.supervisor import Supervisor
from src.control.holds import register_hold_commands
from src.control.holds import resume as resume_person_hold
from src.runtime.context import AppContext
from src.state.control import Controller
from src.state.inbox import CommandRegistry

Result = tuple[bool, str, dict[str, Any]]


def register_control_commands(ctx: AppContext, registry: CommandRegistry, control: Controller,
                              supervisor: Supervisor) -> None:
    """Register status/pause/resume/stop on ``registry``."""

    async def status(_args: dict[str, str], _actor: str) -> Result:
        snap = ctx.status.snapshot()
        snap["control"] = control.describe()
        snap["heartbeat"] = supervisor.heartbeat().model_dump()
        return True, f"{ctx.config.mode} mode, {control.state.summary()}", snap

    async def pause(args: dict[str, str], actor: str) -> Result:
        control.pause(actor, args.get("reason", ""))
        return True, "paused: no new entries; exits and stops still run", {}

    async def resume(_args: dict[str, str], actor: str) -> Result:
        return resume_person_hold(control, actor)

    async def stop(_args: dict[str, str], actor: str) -> Result:
        control.request_stop(actor)
        supervisor.request_stop()
        return True, "stopping: state is flushed, open orders handled per config", {}

    registry.register("status", status, "mode, state, equity, positions, strategies, data quality")
    registry.register("pause", pause, "stop opening new positions (exits still run)")
    registry.register("resume", resume, "lift a person's pause (a guard's hold needs release)")
    register_hold_commands(registry, control)
    registry.register("stop", stop, "shut the bot down cleanly")
