"""Control: one trading state derived from named holds, and the person's live confirmation.

Telegram and scripts never trade; they set or lift *holds* (through commands the process
validates), and the trading loop obeys them. Each hold names its kind (a person, reconciliation,
the kill switch, an emergency stop, a lost safety file, ...), who set it, why and when, and is
lifted only by its own release: a person's ``resume`` lifts only the person's hold,
``ack_reconcile`` only reconciliation's, and the kill switch, an emergency stop and a lost safety
file each need a person's explicit ``release``. The trading state follows from the holds:
``active`` (none), ``reducing`` (no new entries, exits run) or ``halted`` (a guard stopped it).

The file survives restarts. A missing (after a first start), truncated or corrupt
``control.json`` starts the bot halted with a ``safety_file`` hold: a lost file must never lift a
kill-switch halt. The live confirmation is checked again at every start (see :mod:`.live`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from src.core.events import Alert
from src.state.live import LiveConfirmation, LivePolicy, fingerprint, void_reason
from src.state.store import StateStore

log = logging.getLogger(__name__)

RunState = Literal["running", "paused", "halted", "stopping"]
TradingState = Literal["active", "reducing", "halted"]
HoldKind = Literal["person", "reconcile", "data_gate", "kill_switch", "emergency_stop", "safety_file", "account"]

# kind → (what it does, the one command that lifts it)
HOLD_RULES: dict[str, tuple[TradingState, str]] = {
    "person": ("reducing", "resume"),
    "reconcile": ("reducing", "ack_reconcile"),
    "data_gate": ("reducing", "the data gate, once the data is sound again"),
    "kill_switch": ("halted", "release hold=kill_switch"),
    "emergency_stop": ("halted", "release hold=emergency_stop"),
    "safety_file": ("halted", "release hold=safety_file"),
    "account": ("halted", "release hold=account, after fixing the exchange account set-up"),
}
# a guard taking over drops the bot back to paper: a person must confirm live again afterwards
REVOKES_LIVE = frozenset({"reconcile", "kill_switch", "emergency_stop", "safety_file", "account"})
PERSON_RELEASED = frozenset({"kill_switch", "emergency_stop", "safety_file"})


class Hold(BaseModel):
    """One reason not to open new positions, with its owner."""

    model_config = ConfigDict(extra="forbid")

    kind: HoldKind
    by: str
    reason: str
    since: str

    @property
    def effect(self) -> TradingState:
        return HOLD_RULES[self.kind][0]

    @property
    def released_by(self) -> str:
        return HOLD_RULES[self.kind][1]


class LegacyControl(BaseModel):
    """The format before holds (one pause flag, one halt flag); migrated on read."""

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

    def holds(self) -> dict[str, dict[str, str]]:
        """Each old flag as the hold it meant; the owner decides the kind."""
        out: dict[str, dict[str, str]] = {}
        since = self.updated_at or _now()
        if self.paused:
            kind = "reconcile" if self.paused_by == "reconcile" else "person"
            out[kind] = {"kind": kind, "by": self.paused_by or "unknown", "reason": self.paused_reason, "since": since}
        if self.halted:
            kind = "kill_switch" if self.halted_by == "kill_switch" else "emergency_stop"
            out[kind] = {"kind": kind, "by": self.halted_by or "unknown", "reason": self.halted_reason,
                         "since": since}
        return out


_LEGACY_ONLY = frozenset(LegacyControl.model_fields) - {"stop_requested", "updated_at"}


class ControlState(BaseModel):
    """``state/control.json`` (version 2): the holds in force and the live confirmation."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[2] = 2
    holds: dict[str, Hold] = Field(default_factory=dict)
    live: LiveConfirmation | None = None
    key_salt: str = ""
    stop_requested: bool = False
    updated_at: str = ""

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """A version-1 file (no ``version`` key) is schema-checked as such, then converted."""
        if not isinstance(data, dict) or "version" in data or not set(data) & _LEGACY_ONLY:
            return data
        old = LegacyControl.model_validate(data)
        if old.live_confirmed:
            log.warning("control.json: a live confirmation without a key fingerprint is void; confirm again")
        return {"version": 2, "holds": old.holds(), "stop_requested": old.stop_requested,
                "updated_at": old.updated_at}

    @property
    def trading_state(self) -> TradingState:
        effects = {h.effect for h in self.holds.values()}
        return "halted" if "halted" in effects else "reducing" if effects else "active"

    @property
    def run_state(self) -> RunState:
        if self.stop_requested:
            return "stopping"
        state = self.trading_state
        return "halted" if state == "halted" else "paused" if state == "reducing" else "running"

    @property
    def entries_allowed(self) -> bool:
        return not (self.holds or self.stop_requested)

    @property
    def paused(self) -> bool:
        return self.trading_state == "reducing"

    @property
    def halted(self) -> bool:
        return self.trading_state == "halted"

    @property
    def live_confirmed(self) -> bool:
        """A person's confirmation that has not expired (voided ones are removed at start)."""
        return self.live is not None and time.time() < self.live.expires_at_epoch

    @property
    def live_confirmed_by(self) -> str:
        return self.live.by if self.live is not None else ""

    @property
    def live_confirmed_at(self) -> str:
        return self.live.at if self.live is not None else ""

    def summary(self) -> str:
        """One line: the state and every hold with owner and reason."""
        if not self.holds:
            return self.trading_state
        return f"{self.trading_state}: " + "; ".join(
            f"{h.kind} by {h.by} ({h.reason or 'no reason given'}) since {h.since}" for h in self.holds.values())

    def describe(self) -> dict[str, Any]:
        """For status surfaces: new fields plus the old flat ones readers still use."""
        first_halt = next((h for h in self.holds.values() if h.effect == "halted"), None)
        first_pause = next((h for h in self.holds.values() if h.effect == "reducing"), None)
        return {"trading_state": self.trading_state, "run_state": self.run_state,
                "holds": [h.model_dump() | {"effect": h.effect, "released_by": h.released_by}
                          for h in self.holds.values()],
                "halted": self.halted, "halted_by": first_halt.by if first_halt else "",
                "halted_reason": first_halt.reason if first_halt else "",
                "paused": first_pause is not None, "paused_by": first_pause.by if first_pause else "",
                "paused_reason": first_pause.reason if first_pause else "",
                "live_confirmed": self.live_confirmed, "live_confirmed_by": self.live_confirmed_by,
                "live_confirmed_at": self.live_confirmed_at,
                "live": self.live.model_dump(exclude={"key_fingerprint"}) if self.live else None,
                "stop_requested": self.stop_requested, "updated_at": self.updated_at}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Controller:
    """The one owner of ``control.json``; every change is written atomically before it counts."""

    FILE = "control.json"

    def __init__(self, store: StateStore, live: LivePolicy | None = None,
                 wall_s: Callable[[], float] = time.time) -> None:
        self._store = store
        self.policy = live or LivePolicy()
        self._wall_s = wall_s
        self.state, self.lost_file = self._load()
        # A stop request belongs to the process that received it, not to the next start.
        if self.state.stop_requested:
            self._set(stop_requested=False)
        self._check_live_at_start()

    # ------------------------------------------------------------------ loading
    def _load(self) -> tuple[ControlState, bool]:
        loaded = self._store.check(self.FILE, ControlState)
        if loaded.model is not None:
            return loaded.model, False
        if loaded.problem == "missing" and self._store.first_start:
            state = ControlState(updated_at=_now())
            self._store.save(self.FILE, state)
            return state, False
        reason = f"control.json {loaded.problem}: holds and the live confirmation it held are unknown"
        hold = Hold(kind="safety_file", by="startup", reason=reason, since=_now())
        state = ControlState(holds={"safety_file": hold}, updated_at=_now())
        self._store.save(self.FILE, state)
        log.critical("trading HALTED at start: %s", reason)
        self._store.alerts(Alert("action", "Started HALTED: control.json lost", f"{reason}. Check the exchange "
                                 "and state/quarantine, then send: release hold=safety_file", key="safety:control"))
        return state, True

    def _check_live_at_start(self) -> None:
        live = self.state.live
        if live is None:
            return
        why = void_reason(live, self.policy, self.state.key_salt, self._wall_s())
        if why:
            log.warning("live confirmation by %s is void: %s; back to paper", live.by, why)
            self._set(live=None)
            self._store.alerts(Alert("action", "Live confirmation void: paper trading",
                                     f"The confirmation by {live.by} at {live.at} no longer counts: {why}. "
                                     "A person must confirm again (/golive).", key="live-void"))
        elif live.expires_at_epoch > live.at_epoch + self.policy.max_age_s:  # the limit was lowered
            self._set(live=live.model_copy(update={"expires_at_epoch": live.at_epoch + self.policy.max_age_s}))

    def _set(self, **changes: object) -> ControlState:
        self.state = self.state.model_copy(update={**changes, "updated_at": _now()})
        self._store.save(self.FILE, self.state)
        return self.state

    # ------------------------------------------------------------------ holds
    def hold(self, kind: HoldKind, actor: str, reason: str) -> ControlState:
        """Set (or refresh) the hold ``kind``; a guard's hold also takes the live confirmation away."""
        log.warning("%s hold set by %s: %s", kind, actor, reason or "no reason given")
        holds = dict(self.state.holds)
        old = holds.get(kind)
        if old is not None and old.by != actor and reason not in old.reason:  # a second owner adds its reason
            holds[kind] = old.model_copy(update={"reason": f"{old.reason}; {actor}: {reason}"})
        else:
            holds[kind] = Hold(kind=kind, by=actor, reason=reason, since=_now())
        changes: dict[str, object] = {"holds": holds}
        if kind in REVOKES_LIVE and self.state.live is not None:
            log.critical("live confirmation cleared by the %s hold: back to paper", kind)
            changes["live"] = None
        return self._set(**changes)

    def release(self, kind: HoldKind, actor: str) -> tuple[bool, str]:
        """Lift exactly the hold ``kind``; the others stay. Returns (lifted, what remains)."""
        if kind not in self.state.holds:
            return False, f"no {kind} hold is set; {self.state.summary()}"
        holds = {k: h for k, h in self.state.holds.items() if k != kind}
        log.warning("%s hold released by %s", kind, actor)
        self._set(holds=holds)
        return True, self.state.summary()

    def has_hold(self, kind: HoldKind) -> bool:
        return kind in self.state.holds

    def pause(self, actor: str, reason: str = "") -> ControlState:
        """A person's hold: no new entries until that person (or another) resumes."""
        return self.hold("person", actor, reason)

    def resume(self, actor: str) -> tuple[bool, str]:
        """Lift the person's hold only; it never lifts a guard's hold nor re-enables live."""
        return self.release("person", actor)

    # ------------------------------------------------------------------ live
    def confirm_live(self, actor: str) -> ControlState:
        """Record a person's confirmation: who, when and which exchange key it was given for."""
        salt = self.state.key_salt or secrets.token_hex(8)
        now = self._wall_s()
        live = LiveConfirmation(by=actor, at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), at_epoch=now,
                                key_fingerprint=fingerprint(salt, self.policy.api_key),
                                expires_at_epoch=now + self.policy.max_age_s)
        return self._set(live=live, key_salt=salt)

    def revoke_live(self, actor: str, reason: str = "") -> ControlState:
        if self.state.live is not None:
            log.warning("live trading revoked by %s%s: back to paper", actor, f" ({reason})" if reason else "")
        return self._set(live=None)

    def request_stop(self, actor: str) -> ControlState:
        log.warning("stop requested by %s", actor)
        return self._set(stop_requested=True)

    def describe(self) -> dict[str, Any]:
        return self.state.describe()
