"""The trial ledger: every hypothesis evaluated on a symbol's data, counted once, never forgotten.

The deflated Sharpe pays for the search only if the number of trials is the whole search: every
distinct spec (by content hash) evaluated on that symbol's candles, whichever generator proposed
it and whatever family label it carries. The ledger is append-only JSON lines, flushed and
fsynced per batch, so a crash loses at most the batch being written. A damaged file (a torn or
garbled line) is never read as zero: it is moved to quarantine, rebuilt from the intact lines,
the per-cycle trial files in ``state/evaluations/`` and the specs in ``strategies/``, and a
person is told, because the rebuilt count may be lower than the truth.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from ai_brain.generators.dedup import content_hash
from src.core.events import Alert, Event
from src.state.store import atomic_write_bytes, quarantine
from src.strategy.spec import StrategySpec

log = logging.getLogger(__name__)
TRIAL_BATCH_SUFFIX = ".trials.json"


class TrialRecord(BaseModel):
    """One evaluated hypothesis: the data it ran on, its content hash, its test-segment Sharpe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str
    spec_hash: str
    family: str
    generator: str = ""
    sharpe_per_bar: float | None = None

    @classmethod
    def of(cls, spec: StrategySpec, generator: str = "", sharpe_per_bar: float | None = None) -> TrialRecord:
        return cls(symbol=spec.symbols[0], spec_hash=content_hash(spec), family=spec.type, generator=generator,
                   sharpe_per_bar=sharpe_per_bar)


class TrialBatch(BaseModel):
    """The trials of one cycle, written next to its evaluations so the ledger can be rebuilt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    records: list[TrialRecord]


class TrialLedger:
    """Distinct trials per symbol, persisted append-only in ``path`` (JSON lines)."""

    def __init__(self, path: Path, rebuild_from: Callable[[], Iterable[TrialRecord]] = tuple,
                 quarantine_dir: Path | None = None, publish: Callable[[Event], None] | None = None,
                 now_ms: Callable[[], int] = lambda: 0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: dict[str, dict[str, TrialRecord]] = {}
        self.rebuilt = False
        good, bad = self._read()
        for rec in good:
            self._keep(rec)
        if bad:
            self._rebuild(bad, rebuild_from, quarantine_dir or self.path.parent / "quarantine", publish, now_ms)
        elif not self.path.exists():  # first start (or the file was deleted): what is on file still counts
            self.record(rebuild_from())

    # ------------------------------------------------------------------ reading
    def _read(self) -> tuple[list[TrialRecord], int]:
        if not self.path.exists():
            return [], 0
        good, bad = [], 0
        for line in self.path.read_bytes().split(b"\n"):
            if not line.strip():
                continue
            try:
                good.append(TrialRecord.model_validate_json(line))
            except ValidationError:
                bad += 1
        return good, bad

    def _keep(self, rec: TrialRecord) -> bool:
        per = self._seen.setdefault(rec.symbol, {})
        if rec.spec_hash in per:
            return False
        per[rec.spec_hash] = rec
        return True

    def _rebuild(self, bad: int, rebuild_from: Callable[[], Iterable[TrialRecord]], qdir: Path,
                 publish: Callable[[Event], None] | None, now_ms: Callable[[], int]) -> None:
        """Quarantine the damaged file, merge what survives with the other records, rewrite, alert."""
        before = self.total()
        for rec in rebuild_from():
            self._keep(rec)
        where = quarantine(self.path, qdir, f"trial ledger damaged ({bad} unreadable lines)")
        body = b"".join(r.model_dump_json().encode() + b"\n" for per in self._seen.values() for r in per.values())
        atomic_write_bytes(self.path, body)
        self.rebuilt = True
        text = (f"The trial ledger had {bad} unreadable lines; it was moved to {where.name} and rebuilt from "
                f"{before} intact lines plus state/evaluations and strategies: {self.total()} trials now. "
                "Deflated Sharpe figures may under-count earlier trials.")
        log.warning(text)
        if publish is not None:
            publish(Alert("warning", "Trial ledger rebuilt", text, key="trial_ledger:rebuilt", ts_ms=now_ms()))

    # ------------------------------------------------------------------ queries
    def count(self, symbol: str) -> int:
        """Distinct hypotheses evaluated on ``symbol``'s data so far."""
        return len(self._seen.get(symbol, {}))

    def total(self) -> int:
        return sum(len(v) for v in self._seen.values())

    def seen(self, symbol: str, spec_hash: str) -> bool:
        return spec_hash in self._seen.get(symbol, {})

    def sharpe_variance(self, symbol: str) -> float | None:
        """Variance across the trials' per-bar Sharpe ratios (None with fewer than two)."""
        values = [r.sharpe_per_bar for r in self._seen.get(symbol, {}).values() if r.sharpe_per_bar is not None]
        finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
        return float(np.var(finite, ddof=1)) if finite.size >= 2 else None

    # ------------------------------------------------------------------ writing
    def record(self, records: Iterable[TrialRecord]) -> int:
        """Append the records not seen before (one fsync per batch); returns how many were new."""
        with self._lock:
            new = [r for r in records if self._keep(r)]
            if new:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "ab") as fh:
                    fh.write(b"".join(r.model_dump_json().encode() + b"\n" for r in new))
                    fh.flush()
                    os.fsync(fh.fileno())
            return len(new)


def records_on_file(evaluations_dir: Path, strategies_dir: Path) -> list[TrialRecord]:
    """Every trial the bot's other files prove: per-cycle trial batches and filed strategies."""
    out: list[TrialRecord] = []
    for path in sorted(evaluations_dir.glob(f"*{TRIAL_BATCH_SUFFIX}")):
        try:
            out.extend(TrialBatch.model_validate_json(path.read_bytes()).records)
        except (OSError, ValidationError):
            log.warning("trial batch %s unreadable; skipped in the rebuild", path.name)
    for path in sorted(strategies_dir.rglob("*.json")):
        try:
            body = json.loads(path.read_bytes())
            spec = StrategySpec.model_validate(body["spec"])
            gen = str((body.get("source") or {}).get("generator", ""))
        except (OSError, ValueError, KeyError, TypeError, ValidationError):
            continue
        out.append(TrialRecord.of(spec, gen))
    return out


def open_trial_ledger(state_dir: Path, strategies_dir: Path, publish: Callable[[Event], None] | None = None,
                      now_ms: Callable[[], int] = lambda: 0) -> TrialLedger:
    """The ledger at ``state/trials.jsonl``, rebuilt from ``state/evaluations`` and ``strategies`` if damaged."""
    return TrialLedger(state_dir / "trials.jsonl", lambda: records_on_file(state_dir / "evaluations", strategies_dir),
                       state_dir / "quarantine", publish, now_ms)
