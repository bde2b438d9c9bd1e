"""The kill switch: drawdown from PEAK equity, the daily loss limit and the emergency stop.

Drawdown is measured from the highest equity ever marked, not from the start, so a strategy that
first doubled the account cannot give all of it back before anything trips. When it trips, a
``kill_switch`` hold goes to the controller (``state/control.json``), so it survives restarts,
the live confirmation is cleared, and only a person's ``release hold=kill_switch`` lifts it (a
plain ``resume`` does not); at that moment the peak is re-based on the equity of the day, or
the switch would trip again on the very next bar. ``kill_switch_action: flatten`` also asks the
runner to close every position; ``stop_entries`` lets exits and stops run their course.

The daily loss limit only stops *entries* until the next UTC day (and drops live to paper). The
emergency stop (a command from a person) halts and flattens at once.

``state/risk.json`` holds the peak, the day's starting equity and the trip flags. If it is
missing (after a first start), truncated or corrupt, the bot starts halted (a ``safety_file``
hold), the peak and the day's P&L are re-derived from the ledger at the first equity mark
(:mod:`src.risk.recovery`) and a person is told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from src.config.execution import RiskConfig
from src.core.events import Alert, Event
from src.orders.ledger import Ledger
from src.risk.recovery import rederive
from src.state.control import Controller
from src.state.store import StateStore

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
PEAK_WRITE_STEP = 0.001


class RiskState(BaseModel):
    """``state/risk.json``."""

    model_config = ConfigDict(extra="forbid")

    peak_equity_quote: float = 0.0
    day_index: int = -1
    day_start_equity_quote: float = 0.0
    daily_blocked_day: int = -1
    tripped: bool = False
    tripped_ms: int = 0
    tripped_reason: str = ""
    emergency: bool = False
    flatten_requested: bool = False


class KillSwitch:
    """Marks equity each bar and trips the halt; the single writer of ``state/risk.json``."""

    FILE = "risk.json"

    def __init__(self, cfg: RiskConfig, store: StateStore, control: Controller,
                 publish: Callable[[Event], None], ledger: Ledger | None = None) -> None:
        self.cfg, self._store, self.control, self._publish = cfg, store, control, publish
        self._ledger = ledger
        self.state, self._rederive = self._load()
        self._last_dd = 0.0
        self._saved_peak = self.state.peak_equity_quote
        self._reassert_holds()

    def _load(self) -> tuple[RiskState, bool]:
        """The saved state; a lost file halts the bot and asks for a re-derivation from the ledger."""
        loaded = self._store.check(self.FILE, RiskState)
        if loaded.model is not None:
            return loaded.model, False
        state = RiskState()
        self._store.save(self.FILE, state)
        if loaded.problem == "missing" and self._store.first_start:
            return state, False
        reason = (f"risk.json {loaded.problem}: peak equity and today's loss are re-derived from the ledger "
                  "at the first equity mark")
        self.control.hold("safety_file", "kill_switch", reason)
        self._store.alerts(Alert("action", "Started HALTED: risk.json lost", f"{reason}. Check the figures in "
                                 "/status, then send: release hold=safety_file", key="safety:risk"))
        return state, True

    def _reassert_holds(self) -> None:
        """A trip recorded here outlives a lost control.json: its hold is set again, never dropped."""
        if self.state.tripped and not self.control.has_hold("kill_switch"):
            self.control.hold("kill_switch", "kill_switch", self.state.tripped_reason or "kill switch tripped")
        if self.state.emergency and not self.control.has_hold("emergency_stop"):
            self.control.hold("emergency_stop", "kill_switch", self.state.tripped_reason or "emergency stop")

    def _save(self) -> None:
        self._store.save(self.FILE, self.state)
        self._saved_peak = self.state.peak_equity_quote

    @property
    def drawdown(self) -> float:
        """Fraction below peak at the last update."""
        return self._last_dd

    def update(self, equity_quote: float, now_ms: int) -> None:
        """Feed the latest equity (each bar close); trips, re-arms and rolls the day as needed."""
        changed = self._rederive_from_ledger(equity_quote, now_ms) or self._rearm_if_released(equity_quote)
        if equity_quote > self.state.peak_equity_quote:
            self.state.peak_equity_quote = equity_quote
            # a new peak is written once it is 0.1% above the written one (not every bar): after a
            # crash the switch measures from at most 0.1% below the true peak
            changed |= equity_quote > self._saved_peak * (1 + PEAK_WRITE_STEP)
        changed |= self._roll_day(equity_quote, now_ms)
        peak = self.state.peak_equity_quote
        self._last_dd = 1.0 - equity_quote / peak if peak > 0 else 0.0
        if not self.state.tripped and self._last_dd >= self.cfg.max_drawdown_fraction:
            self._trip(equity_quote, now_ms)
            changed = True
        changed |= self._check_daily(equity_quote, now_ms)
        if changed:
            self._save()

    def _rederive_from_ledger(self, equity_quote: float, now_ms: int) -> bool:
        if not self._rederive:
            return False
        self._rederive = False
        found = rederive(self._ledger.entries() if self._ledger is not None else [], equity_quote, now_ms)
        self.state.peak_equity_quote = found.peak_equity_quote
        self.state.day_index, self.state.day_start_equity_quote = now_ms // DAY_MS, found.day_start_equity_quote
        log.critical("risk.json re-derived from %d ledger money lines: peak %.2f, day start %.2f (equity %.2f)",
                     found.money_lines, found.peak_equity_quote, found.day_start_equity_quote, equity_quote)
        self._publish(Alert("action", "Risk figures re-derived from the ledger",
                            f"peak equity {found.peak_equity_quote:,.2f}, today's start "
                            f"{found.day_start_equity_quote:,.2f} (equity now {equity_quote:,.2f}, "
                            f"{found.money_lines} ledger lines)",
                            key="safety:risk-rederived", ts_ms=now_ms))
        return True

    def _rearm_if_released(self, equity_quote: float) -> bool:
        """A person released the kill-switch (or emergency) hold: measure from today's equity again."""
        held = self.control.has_hold("kill_switch") or self.control.has_hold("emergency_stop")
        if (self.state.tripped or self.state.emergency) and not held:
            log.warning("kill switch re-armed after a person released it; peak re-based to %.2f", equity_quote)
            self.state = self.state.model_copy(update={
                "tripped": False, "emergency": False, "flatten_requested": False, "tripped_reason": "",
                "peak_equity_quote": equity_quote})
            return True
        return False

    def _roll_day(self, equity_quote: float, now_ms: int) -> bool:
        day = now_ms // DAY_MS
        if day == self.state.day_index:
            return False
        self.state.day_index, self.state.day_start_equity_quote = day, equity_quote
        return True

    def _trip(self, equity_quote: float, now_ms: int) -> None:
        reason = (f"drawdown {self._last_dd:.1%} from peak {self.state.peak_equity_quote:,.2f} "
                  f"(equity {equity_quote:,.2f}) reached the limit {self.cfg.max_drawdown_fraction:.0%}")
        self.state.tripped, self.state.tripped_ms, self.state.tripped_reason = True, now_ms, reason
        self.state.flatten_requested = self.cfg.kill_switch_action == "flatten"
        self._save()  # before the halt: a crash in between still leaves the trip recorded
        self.control.hold("kill_switch", "kill_switch", reason)
        action = "closing every position" if self.state.flatten_requested else "no new entries; exits still run"
        self._publish(Alert("critical", "KILL SWITCH: trading halted", f"{reason}. {action}. Back to paper. "
                            "Only a person can lift it (release hold=kill_switch), and live needs a new "
                            "confirmation.", key="kill_switch", ts_ms=now_ms))

    def _check_daily(self, equity_quote: float, now_ms: int) -> bool:
        start = self.state.day_start_equity_quote
        if start <= 0 or self.state.daily_blocked_day == self.state.day_index:
            return False
        loss = 1.0 - equity_quote / start
        if loss < self.cfg.daily_loss_limit_fraction:
            return False
        self.state.daily_blocked_day = self.state.day_index
        self.control.revoke_live("daily_loss_limit", f"equity fell {loss:.1%} today")
        self._publish(Alert("action", "Daily loss limit reached",
                            f"equity fell {loss:.1%} today (limit {self.cfg.daily_loss_limit_fraction:.0%}); "
                            "no new entries until 00:00 UTC", key=f"daily_loss:{self.state.day_index}", ts_ms=now_ms))
        return True

    def daily_blocked(self, now_ms: int) -> bool:
        return self.state.daily_blocked_day == now_ms // DAY_MS

    def emergency_stop(self, actor: str, now_ms: int) -> None:
        """A person pulled the cord: halt and flatten now."""
        self.state.emergency, self.state.flatten_requested = True, True
        self.state.tripped_reason = f"emergency stop by {actor}"
        self._save()
        self.control.hold("emergency_stop", actor, "emergency stop: flatten everything")
        self._publish(Alert("critical", "EMERGENCY STOP", f"{actor} stopped trading; closing every position.",
                            key="emergency_stop", ts_ms=now_ms))

    def flatten_done(self) -> None:
        if self.state.flatten_requested:
            self.state.flatten_requested = False
            self._save()

    def describe(self) -> dict[str, object]:
        return {"peak_equity_quote": round(self.state.peak_equity_quote, 2), "drawdown": round(self._last_dd, 4),
                "tripped": self.state.tripped, "reason": self.state.tripped_reason,
                "emergency": self.state.emergency, "flatten_requested": self.state.flatten_requested,
                "daily_blocked": self.state.daily_blocked_day == self.state.day_index}
