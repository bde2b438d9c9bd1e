"""Control flags: the desired state of the bot, changed only by commands from people or guards.

Telegram and scripts never trade; they change these flags (through commands the process
validates), and the trading loop obeys them. The file survives restarts, so a halt set by the
kill switch or a pause set from the phone is still in force after a crash.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from src.state.store import StateStore

log = logging.getLogger(__name__)

RunState = Literal["running", "paused", "halted", "stopping"]


class ControlState(BaseModel):
    """``state/control.json``: what a person (or a guard) wants the bot to do."""

    model_config = ConfigDict(extra="forbid")

    paused: bool = False
    paused_by: str = ""
    paused_reason: str = ""
    halted: bool = False
    halted_by: str = ""
    halted_reason: str = ""
    live_confirmed: bool = False
    live_confirmed_by: str = ""
    live_confirmed_at: str = ""
    stop_requested: bool = False
    updated_at: str = ""

    @property
    def run_state(self) -> RunState:
        if self.stop_requested:
            return "stopping"
        if self.halted:
            return "halted"
        return "paused" if self.paused else "running"

    @property
    def entries_allowed(self) -> bool:
        return not (self.paused or self.halted or self.stop_requested)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Controller:
    """The one owner of ``control.json``; every change is written atomically before it counts."""

    FILE = "control.json"

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self.state = store.load_or(self.FILE, ControlState, ControlState())
        # A stop request belongs to the process that received it, not to the next start.
        if self.state.stop_requested:
            self._set(stop_requested=False)

    def _set(self, **changes: object) -> ControlState:
        self.state = self.state.model_copy(update={**changes, "updated_at": _now()})
        self._store.save(self.FILE, self.state)
        return self.state

    def pause(self, actor: str, reason: str = "") -> ControlState:
        log.warning("entries paused by %s: %s", actor, reason or "no reason given")
        return self._set(paused=True, paused_by=actor, paused_reason=reason)

    def resume(self, actor: str) -> ControlState:
        """Clears a pause and a halt; only people call this, never a guard."""
        log.warning("trading resumed by %s", actor)
        return self._set(paused=False, paused_by="", paused_reason="", halted=False, halted_by="",
                         halted_reason="")

    def halt(self, actor: str, reason: str) -> ControlState:
        log.critical("trading HALTED by %s: %s", actor, reason)
        return self._set(halted=True, halted_by=actor, halted_reason=reason)

    def confirm_live(self, actor: str) -> ControlState:
        return self._set(live_confirmed=True, live_confirmed_by=actor, live_confirmed_at=_now())

    def revoke_live(self, actor: str) -> ControlState:
        log.warning("live trading revoked by %s: back to paper", actor)
        return self._set(live_confirmed=False, live_confirmed_by="", live_confirmed_at="")

    def request_stop(self, actor: str) -> ControlState:
        log.warning("stop requested by %s", actor)
        return self._set(stop_requested=True)
