"""The learning engine: regimes per symbol, the pattern database and the replay buffer, fed by trades.

It learns only from closed *automatic* trades (fills that carry a strategy id); manual trades
are never mixed in. Fills are folded into round trips by :class:`TradeAssembler`; each closed
trade stores the market state at its entry (computed from candles before the entry, so nothing
after the decision leaks in) with its outcome in the pattern DB and the prioritized replay
buffer, both persisted atomically under ``state/learning/``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ai_brain.discovery.strategy_store import ClosedTrade
from ai_brain.learning.pattern_db import MIN_BARS, PatternDB, Similarity, features_at
from ai_brain.learning.regimes import RegimeReading, classify
from ai_brain.learning.replay_buffer import Experience, PrioritizedReplayBuffer
from src.config.brain import LearningConfig
from src.core.enums import Mode
from src.core.events import Fill
from src.state.store import read_model, write_model
from src.strategy.data import Candles

log = logging.getLogger(__name__)


def is_automatic(strategy_id: str | None) -> bool:
    """Trades made by a strategy; manual ones (no id, or ``manual...``) are never learned from."""
    return bool(strategy_id) and not str(strategy_id).startswith("manual")


class _Open(BaseModel):
    """A round trip still open (persisted so a restart does not split it in two)."""

    model_config = ConfigDict(extra="forbid")

    side: str = "long"
    qty_base: float = 0.0          # still open, unsigned
    entry_quote: float = 0.0       # Σ qty × price of the opening fills
    entry_qty: float = 0.0
    exit_quote: float = 0.0
    exit_qty: float = 0.0
    fee_quote: float = 0.0
    entry_ts: int = 0


class _OpenFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    positions: dict[str, _Open] = Field(default_factory=dict)


class TradeAssembler:
    """Folds fills per (strategy, symbol) into closed round trips (flat → position → flat).

    A fill that more than closes a position closes it and opens the remainder the other way.
    """

    def __init__(self, mode: Mode, path: Path | None = None, quarantine_dir: Path | None = None) -> None:
        self.mode = "live" if mode == "live" else "dry_run"
        self.path = path
        saved = read_model(path, _OpenFile, quarantine_dir or path.parent) if path is not None else None
        self._open: dict[tuple[str, str], _Open] = {}
        for key, pos in (saved.positions if saved else {}).items():
            sid, _sep, symbol = key.partition("|")
            self._open[(sid, symbol)] = pos

    def _save(self) -> None:
        if self.path is not None:
            doc = _OpenFile(positions={f"{sid}|{sym}": pos for (sid, sym), pos in self._open.items()})
            write_model(self.path, doc)

    def on_fill(self, fill: Fill) -> ClosedTrade | None:
        """Fold one fill in; the open positions are written before the result is returned."""
        closed = self._apply(fill)
        if is_automatic(fill.strategy_id):
            self._save()
        return closed

    def _apply(self, fill: Fill) -> ClosedTrade | None:
        if not is_automatic(fill.strategy_id) or fill.qty_base <= 0:
            return None
        key = (str(fill.strategy_id), fill.symbol)
        side = "long" if fill.side == "buy" else "short"
        pos = self._open.get(key)
        if pos is None or pos.side == side:
            pos = pos or _Open(side=side, entry_ts=fill.ts_ms)
            pos.qty_base += fill.qty_base
            pos.entry_qty += fill.qty_base
            pos.entry_quote += fill.qty_base * fill.price_quote
            pos.fee_quote += fill.fee_quote
            self._open[key] = pos
            return None
        closing = min(fill.qty_base, pos.qty_base)
        share = closing / fill.qty_base
        pos.exit_quote += closing * fill.price_quote
        pos.exit_qty += closing
        pos.fee_quote += fill.fee_quote * share
        pos.qty_base -= closing
        if pos.qty_base > 1e-12 * pos.entry_qty:
            return None
        del self._open[key]
        rest = fill.qty_base - closing
        if rest > 0:
            self._open[key] = _Open(side=side, qty_base=rest, entry_qty=rest, entry_quote=rest * fill.price_quote,
                                    fee_quote=fill.fee_quote * (1 - share), entry_ts=fill.ts_ms)
        return self._close(key, pos, fill.ts_ms)

    def _close(self, key: tuple[str, str], pos: _Open, exit_ts: int) -> ClosedTrade:
        qty = pos.exit_qty
        entry_px = pos.entry_quote / pos.entry_qty
        exit_px = pos.exit_quote / qty
        direction = 1.0 if pos.side == "long" else -1.0
        pnl = direction * (exit_px - entry_px) * qty - pos.fee_quote
        committed = entry_px * qty
        return ClosedTrade(mode=self.mode, symbol=key[1], side=pos.side, entry_ts=pos.entry_ts,  # type: ignore[arg-type]
                           exit_ts=exit_ts, entry_price=entry_px, exit_price=exit_px, qty_base=qty, pnl_quote=pnl,
                           fee_quote=pos.fee_quote, ret=pnl / committed if committed else 0.0)


def closed_trade_from_ledger(entry: Any) -> ClosedTrade | None:
    """A closed automatic trade from an execution ledger ``trade`` line (None for anything else)."""
    if getattr(entry, "kind", None) != "trade" or getattr(entry, "manual", True):
        return None
    if not is_automatic(getattr(entry, "strategy_id", None)):
        return None
    d = entry.data
    try:
        qty, entry_px = float(d["qty_base"]), float(d["entry_price_quote"])
        committed = qty * entry_px
        return ClosedTrade(mode="dry_run" if entry.venue == "paper" else "live", symbol=entry.symbol,
                           side=d["side"], entry_ts=int(d["entry_ms"]), exit_ts=int(d["exit_ms"]),
                           entry_price=entry_px, exit_price=float(d["exit_price_quote"]), qty_base=qty,
                           pnl_quote=float(d["net_quote"]), fee_quote=float(d.get("fees_quote", 0.0)),
                           ret=float(d["net_quote"]) / committed if committed else 0.0, source="ledger")
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ledger trade line %s not understood: %s", getattr(entry, "seq", "?"), exc)
        return None


class LearningEngine:
    """Regimes, patterns and replay, persisted under ``folder``."""

    def __init__(self, cfg: LearningConfig, folder: Path, quarantine_dir: Path) -> None:
        self.cfg, self.folder = cfg, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.patterns = PatternDB.load(folder / "patterns.json", quarantine_dir, cfg.pattern_capacity)
        self.replay = PrioritizedReplayBuffer.load(folder / "replay_buffer.json", quarantine_dir,
                                                   cfg.replay_capacity, cfg.replay_alpha, cfg.replay_beta)
        self.regimes: dict[str, RegimeReading] = {}
        self.learned = 0

    @property
    def ledger_seq(self) -> int:
        """The last ledger line both stores have folded in (a restart's backfill starts after it)."""
        return min(self.patterns.last_seq, self.replay.last_seq)

    def update_regime(self, symbol: str, candles: Candles) -> RegimeReading | None:
        """Classify the latest closed bars; None while the history is too short."""
        try:
            reading = classify(candles, symbol, self.cfg.regime_lookback_bars, self.cfg.regime_vol_window)
        except ValueError:
            return None
        self.regimes[symbol] = reading
        return reading

    def regime_label(self, symbol: str) -> str | None:
        reading = self.regimes.get(symbol)
        return reading.label if reading else None

    def similar(self, candles: Candles) -> Similarity | None:
        if len(candles) < MIN_BARS:
            return None
        return self.patterns.query(features_at(candles), self.cfg.pattern_k)

    def learn_from_trade(self, strategy_id: str, trade: ClosedTrade, candles: Candles | None,
                         seq: int | None = None) -> bool:
        """Remember one closed automatic trade; False when the entry state cannot be rebuilt.

        With a ledger ``seq``, each store takes the trade only if it has not yet (its last seq is
        saved in the same atomic write as its content), so a crash between the two files and the
        backfill after it never learn a trade twice or lose it.
        """
        if not is_automatic(strategy_id) or candles is None:
            return False
        end = int(np.searchsorted(candles.ts, trade.entry_ts, side="left"))
        if end < MIN_BARS:
            return False
        vec = features_at(candles, end)
        if seq is None or seq > self.patterns.last_seq:
            self.patterns.add(vec, trade.ret, trade.symbol)
            self.patterns.last_seq = max(self.patterns.last_seq, seq or 0)
            self.patterns.save(self.folder / "patterns.json")
        if seq is None or seq > self.replay.last_seq:
            self.replay.add(Experience(strategy_id=strategy_id, symbol=trade.symbol, entry_ts=trade.entry_ts,
                                       features=vec.tolist(), ret=trade.ret, regime=self.regime_label(trade.symbol)),
                            priority=abs(trade.ret) + 1e-4)
            self.replay.last_seq = max(self.replay.last_seq, seq or 0)
            self.replay.save(self.folder / "replay_buffer.json")
        self.learned += 1
        return True

    def save(self) -> None:
        self.patterns.save(self.folder / "patterns.json")
        self.replay.save(self.folder / "replay_buffer.json")

    def describe(self) -> dict[str, Any]:
        return {"regimes": {s: f"{r.label} ({r.confidence:.2f})" for s, r in self.regimes.items()},
                "patterns": len(self.patterns), "replay": self.replay.describe(), "learned_trades": self.learned}
