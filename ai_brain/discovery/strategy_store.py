"""The strategy repository: one JSON file per strategy in ``strategies/<testing|active|retired>/``.

The folder follows the status (see :data:`FOLDER_OF`). A status change that moves a file is
done as *write the new copy atomically, then unlink the old one*: a ``kill -9`` between the two
leaves two copies, and every copy carries a ``revision`` that grows with each write, so loading
keeps the higher revision and deletes the stale one. No instant exists where neither copy is on
disk, and the survivor is always the newest complete write. Files that fail the schema are
quarantined (never silently replaced) by :func:`src.state.store.read_model`.

Which transitions are legal is the lifecycle's rule (:mod:`ai_brain.discovery.lifecycle`); the store only
enforces it, records who did what and why, and publishes a :class:`StrategyEvent` per change.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from src.core.enums import MONEY_STATUSES, StrategyStatus
from src.core.errors import LabError
from src.core.events import Event, StrategyEvent
from src.state.store import fsync_dir, read_model, write_model
from src.strategy.spec import StrategySpec

log = logging.getLogger(__name__)

Status = StrategyStatus
STATUSES: tuple[str, ...] = tuple(StrategyStatus)
FOLDER_OF: dict[str, str] = {
    "generated": "testing", "backtested": "testing", "dry_run": "testing", "awaiting_approval": "testing",
    "approved": "active", "live": "active", "scaling": "active", "retired": "retired", "rejected": "retired",
}
FOLDERS: tuple[str, ...] = ("testing", "active", "retired")
MAX_TRADES_KEPT = 500


class UnknownStrategy(LabError, KeyError):
    """No strategy with that id; the message lists how to find valid ids."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown strategy"


class IllegalTransition(LabError, ValueError):
    """A status change the lifecycle does not allow (named, with the allowed targets)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HistoryEntry(_Model):
    """One status change: who, when (market and wall time), from what to what, and why."""

    from_status: str | None
    to_status: str
    actor: str
    reason: str
    ts_ms: int
    at: str


class Source(_Model):
    """Where the idea came from, in words a person can check."""

    generator: str
    reasoning: str
    hypothesis_id: str
    parents: list[str] = Field(default_factory=list)
    prompt_hash: str | None = None
    regime: str | None = None


class Verdict(_Model):
    """The evaluator's decision on this strategy (copied, so the file is self-contained)."""

    evaluation_id: str
    passed: bool
    score: float
    reasons: list[str]
    failed_checks: list[str] = Field(default_factory=list)


class Approval(_Model):
    by: str
    at: str
    reason: str = ""


class Provenance(_Model):
    hypothesis_id: str
    evaluation_id: str | None = None
    approval: Approval | None = None


class ClosedTrade(_Model):
    """A finished round trip of this strategy, as executed (dry run or live)."""

    mode: Literal["dry_run", "live"]
    symbol: str
    side: Literal["long", "short"]
    entry_ts: int
    exit_ts: int
    entry_price: float
    exit_price: float
    qty_base: float
    pnl_quote: float
    fee_quote: float = 0.0
    ret: float = Field(description="pnl as a fraction of the equity committed at entry")
    source: str = "ledger"


class Performance(_Model):
    backtest: dict[str, Any] | None = None
    out_of_sample: dict[str, Any] | None = None
    dry_run: dict[str, Any] | None = None
    live: dict[str, Any] | None = None


class RefusedEntry(_Model):
    """An entry the strategy signalled that a risk guard refused (not a missed trade: not drift)."""

    ts_ms: int
    side: str
    reason: str


class StrategyRecord(_Model):
    """The whole content of one strategy file."""

    id: str
    name: str
    type: str
    status: Status
    spec: StrategySpec
    source: Source
    performance: Performance = Field(default_factory=Performance)
    verdict: Verdict | None = None
    provenance: Provenance
    created_at: str
    updated_at: str
    status_since_ms: int = 0
    approved_at: str | None = None
    size_fraction: float = 0.0
    revision: int = 0
    trades: list[ClosedTrade] = Field(default_factory=list)
    refused: list[RefusedEntry] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)

    @property
    def folder(self) -> str:
        return FOLDER_OF[self.status]


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Publisher = Callable[[Event], None]


class StrategyStore:
    """In-memory index over the strategy files; every change is written before it counts."""

    def __init__(self, root: Path, quarantine_dir: Path, now_ms: Callable[[], int],
                 publish: Publisher | None = None,
                 allowed: Callable[[StrategyRecord, str, str], str | None] | None = None) -> None:
        self.root = root
        self.quarantine_dir = quarantine_dir
        self._now_ms = now_ms
        self._publish = publish or (lambda _ev: None)
        self._allowed = allowed
        self._records: dict[str, StrategyRecord] = {}
        self.duplicates_resolved = 0
        for folder in FOLDERS:
            (root / folder).mkdir(parents=True, exist_ok=True)
        self.reload()

    # ------------------------------------------------------------------ loading
    def reload(self) -> None:
        """Rebuild the index from disk; resolve copies a killed move left behind."""
        found: dict[str, list[tuple[StrategyRecord, Path]]] = {}
        for folder in FOLDERS:
            for path in sorted((self.root / folder).glob("*.json")):
                rec = read_model(path, StrategyRecord, self.quarantine_dir)
                if rec is not None:
                    found.setdefault(rec.id, []).append((rec, path))
        self._records = {}
        for sid, copies in found.items():
            self._records[sid] = self._resolve(copies)

    def _resolve(self, copies: list[tuple[StrategyRecord, Path]]) -> StrategyRecord:
        copies.sort(key=lambda rp: (rp[0].revision, len(rp[0].history)))
        keep, keep_path = copies[-1]
        for rec, path in copies[:-1]:
            log.warning("strategy %s: removing stale copy %s (revision %d, kept revision %d in %s)",
                        rec.id, path, rec.revision, keep.revision, keep_path.parent.name)
            path.unlink(missing_ok=True)
            fsync_dir(path.parent)
            self.duplicates_resolved += 1
        if keep_path.parent.name != keep.folder:  # a hand-moved file: put it where its status says
            self._write(keep)
            keep_path.unlink(missing_ok=True)
        return keep

    # ------------------------------------------------------------------ queries
    def path_of(self, rec: StrategyRecord) -> Path:
        return self.root / rec.folder / f"{rec.id}.json"

    def exists(self, strategy_id: str) -> bool:
        return strategy_id in self._records

    def get(self, strategy_id: str) -> StrategyRecord:
        """The record, or :class:`UnknownStrategy` naming the id."""
        rec = self._records.get(strategy_id)
        if rec is None:
            raise UnknownStrategy(f"unknown strategy id {strategy_id!r}; list them with the 'strategies' command")
        return rec

    def list(self, status: str | None = None) -> list[StrategyRecord]:
        """Records with ``status`` (a status name or a folder name: testing/active/retired), oldest first."""
        if status is not None and status not in STATUSES and status not in FOLDERS:
            raise ValueError(f"unknown status {status!r}; use one of {', '.join(STATUSES + FOLDERS)}")
        recs = [r for r in self._records.values()
                if status is None or r.status == status or r.folder == status]
        return sorted(recs, key=lambda r: (r.created_at, r.id))

    def provenance_of(self, strategy_id: str) -> dict[str, Any]:
        """What a trade of this strategy should carry: hypothesis, evaluation, approval (or nulls)."""
        prov = self.get(strategy_id).provenance
        approval = prov.approval.model_dump() if prov.approval else None
        return {"hypothesis_id": prov.hypothesis_id, "evaluation_id": prov.evaluation_id, "approval": approval}

    def counts(self) -> dict[str, int]:
        """Number of strategies per status (every status present, zeros included)."""
        out = dict.fromkeys(STATUSES, 0)
        for rec in self._records.values():
            out[rec.status] += 1
        return out

    def tradable(self, mode: str, live_gate_open: bool = False) -> builtins.list[StrategyRecord]:
        """What the strategy runner should trade: dry runs on paper; live/scaling only in live mode
        with the double gate open. Anything else returns nothing rather than guessing."""
        if mode == "live":
            if not live_gate_open:
                return []
            return [r for r in self.list() if r.status in MONEY_STATUSES]
        return [r for r in self.list() if r.status in ("dry_run", "awaiting_approval", "approved")]

    # ------------------------------------------------------------------ changes
    def add(self, rec: StrategyRecord, actor: str = "ai", reason: str = "created") -> StrategyRecord:
        """Write a new strategy file (refuses an id that already exists)."""
        if rec.id in self._records:
            raise ValueError(f"strategy {rec.id!r} already exists")
        now = self._now_ms()
        entry = HistoryEntry(from_status=None, to_status=rec.status, actor=actor, reason=reason, ts_ms=now,
                             at=_now_iso())
        rec = rec.model_copy(update={"history": [*rec.history, entry], "status_since_ms": now, "revision": 1})
        self._write(rec)
        self._records[rec.id] = rec
        self._publish(StrategyEvent(rec.id, rec.status, reason, now))
        return rec

    def transition(self, strategy_id: str, to_status: str, actor: str, reason: str,
                   **updates: Any) -> StrategyRecord:
        """Change the status (and folder) of a strategy; illegal moves raise :class:`IllegalTransition`."""
        rec = self.get(strategy_id)
        if to_status not in STATUSES:
            raise IllegalTransition(f"unknown status {to_status!r}; use one of {', '.join(STATUSES)}")
        if self._allowed is not None:
            problem = self._allowed(rec, to_status, actor)
            if problem:
                raise IllegalTransition(f"{strategy_id}: {problem}")
        now = self._now_ms()
        entry = HistoryEntry(from_status=rec.status, to_status=to_status, actor=actor, reason=reason,
                             ts_ms=now, at=_now_iso())
        new = self._replace(rec, status=StrategyStatus(to_status), history=[*rec.history, entry],
                            status_since_ms=now, **updates)
        self._publish(StrategyEvent(new.id, new.status, f"{reason} (by {actor})", now, actor=actor))
        return new

    def update(self, strategy_id: str, **updates: Any) -> StrategyRecord:
        """Change fields other than the status (performance, notes, verdict)."""
        if "status" in updates:
            raise ValueError("use transition() to change a status")
        return self._replace(self.get(strategy_id), **updates)

    def update_performance(self, strategy_id: str, key: str, figures: dict[str, Any]) -> StrategyRecord:
        """Set ``performance.<key>`` (backtest, out_of_sample, dry_run or live)."""
        rec = self.get(strategy_id)
        if key not in Performance.model_fields:
            raise ValueError(f"unknown performance key {key!r}; use {', '.join(Performance.model_fields)}")
        perf = rec.performance.model_copy(update={key: figures})
        return self._replace(rec, performance=perf)

    def record_trade_result(self, strategy_id: str, trade: ClosedTrade) -> StrategyRecord:
        """Append a closed trade (idempotent on entry time, exit time and mode)."""
        rec = self.get(strategy_id)
        key = (trade.mode, trade.symbol, trade.entry_ts, trade.exit_ts)
        if any((t.mode, t.symbol, t.entry_ts, t.exit_ts) == key for t in rec.trades):
            return rec
        trades = [*rec.trades, trade][-MAX_TRADES_KEPT:]
        return self._replace(rec, trades=trades)

    def record_refused(self, strategy_id: str, ts_ms: int, side: str, reason: str) -> StrategyRecord:
        """Remember an order a guard refused (idempotent on time and side)."""
        rec = self.get(strategy_id)
        if any((r.ts_ms, r.side) == (ts_ms, side) for r in rec.refused):
            return rec
        refused = [*rec.refused, RefusedEntry(ts_ms=ts_ms, side=side, reason=reason)][-MAX_TRADES_KEPT:]
        return self._replace(rec, refused=refused)

    def _replace(self, rec: StrategyRecord, **updates: Any) -> StrategyRecord:
        new = rec.model_copy(update={**updates, "updated_at": _now_iso(), "revision": rec.revision + 1})
        new = StrategyRecord.model_validate(new.model_dump())  # re-check: updates bypass validation
        old_path = self.path_of(rec)
        self._write(new)
        if self.path_of(new) != old_path:
            old_path.unlink(missing_ok=True)
            fsync_dir(old_path.parent)
        self._records[new.id] = new
        return new

    def _write(self, rec: StrategyRecord) -> None:
        write_model(self.path_of(rec), rec)

