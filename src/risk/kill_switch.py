"""The kill switch: drawdown from PEAK equity, the daily loss limit and the emergency stop.

Drawdown is measured from the highest equity ever marked, not from the start, so a strategy that
first doubled the account cannot give all of it back before anything trips. When it trips, the
halt goes through the controller (``state/control.json``), so it survives restarts, and only a
person's ``resume`` lifts it; at that moment the peak is re-based on the equity of the day, or
the switch would trip again on the very next bar. ``kill_switch_action: flatten`` also asks the
runner to close every position; ``stop_entries`` lets exits and stops run their course.

The daily loss limit only stops *entries* until the next UTC day. The emergency stop (a command
from a person) halts and flattens at once.

``state/risk.json`` holds the peak, the day's starting equity and the trip flags.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from src.config.execution import RiskConfig
from src.core.events import Alert, Event
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
                 publish: Callable[[Event], None]) -> None:
        self.cfg, self._store, self.control, self._publish = cfg, store, control, publish
        self.state = store.load_or(self.FILE, RiskState, RiskState())
        self._last_dd = 0.0
        self._saved_peak = self.state.peak_equity_quote

    def _save(self) -> None:
        self._store.save(self.FILE, self.state)
        self._saved_peak = self.state.peak_equity_quote

    @property
    def drawdown(self) -> float:
        """Fraction below peak at the last update."""
        return self._last_dd

    def update(self, equity_quote: float, now_ms: int) -> None:
        """Feed the latest equity (each bar close); trips, re-arms and rolls the day as needed."""
        changed = self._rearm_if_resumed(equity_quote)
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

    def _rearm_if_resumed(self, equity_quote: float) -> bool:
        if (self.state.tripped or self.state.emergency) and not self.control.state.halted:
            log.warning("kill switch re-armed after a person resumed; peak re-based to %.2f", equity_quote)
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
        self.control.halt("kill_switch", reason)
        action = "closing every position" if self.state.flatten_requested else "no new entries; exits still run"
        self._publish(Alert("critical", "KILL SWITCH: trading halted", f"{reason}. {action}. "
                            "Only a person can resume (/resume or scripts).", key="kill_switch", ts_ms=now_ms))

    def _check_daily(self, equity_quote: float, now_ms: int) -> bool:
        start = self.state.day_start_equity_quote
        if start <= 0 or self.state.daily_blocked_day == self.state.day_index:
            return False
        loss = 1.0 - equity_quote / start
        if loss < self.cfg.daily_loss_limit_fraction:
            return False
        self.state.daily_blocked_day = self.state.day_index
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
        self.control.halt(actor, "emergency stop: flatten everything")
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
