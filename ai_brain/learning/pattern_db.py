"""Pattern database: the market state at every automatic entry, with the trade's outcome.

A new signal's state is compared with past ones by cosine similarity (after standardising each
feature); the k nearest neighbours' outcomes give a win probability and a mean return — a
confidence the learning engine hands to generators and reports. Features are computed from
closed candles only, so a pattern is exactly what was known at the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from src.state.store import read_model, write_model
from src.strategy import indicators as ind
from src.strategy.data import Candles

FEATURES: tuple[str, ...] = ("ret_24", "ret_72", "ret_240", "vol_24", "rsi_14", "adx_14", "bb_pctb_20",
                             "dist_ema_50", "volume_ratio_20", "drawdown_240")
MIN_BARS = 260


def features_at(c: Candles, end: int | None = None) -> np.ndarray:
    """The feature vector after the bar ``end - 1`` closed (default: the last bar)."""
    end = len(c) if end is None else end
    if end < MIN_BARS:
        raise ValueError(f"need {MIN_BARS} bars for pattern features, got {end}")
    s = c.slice(max(0, end - 600), end)
    close = np.ascontiguousarray(s.close)
    lr = np.diff(np.log(close))
    upper, _mid, lower = ind.bollinger(close, 20, 2.0)
    adx, _p, _m = ind.adx_dmi(s.high, s.low, close, 14)
    ema50 = ind.ema(close, 50)
    vol_ma = ind.sma(np.ascontiguousarray(s.volume), 20)
    width = upper[-1] - lower[-1]
    vec = [close[-1] / close[-25] - 1, close[-1] / close[-73] - 1, close[-1] / close[-241] - 1,
           float(np.std(lr[-24:])), ind.rsi(close, 14)[-1] / 100.0, adx[-1] / 100.0,
           (close[-1] - lower[-1]) / width if width > 0 else 0.5, close[-1] / ema50[-1] - 1,
           s.volume[-1] / vol_ma[-1] if vol_ma[-1] > 0 else 1.0, 1 - close[-1] / np.max(close[-240:])]
    return np.nan_to_num(np.asarray(vec, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)


@dataclass(frozen=True)
class Similarity:
    """What the k most similar past entries did."""

    neighbours: int
    win_rate: float | None
    mean_return: float | None
    mean_similarity: float | None

    def describe(self) -> str:
        if not self.neighbours:
            return "no similar past trades yet"
        return (f"{self.neighbours} similar past entries won {self.win_rate:.0%} of the time, "
                f"mean return {self.mean_return:+.2%} (similarity {self.mean_similarity:.2f})")


class _PatternFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vectors: list[list[float]]
    outcomes: list[float]
    symbols: list[str]
    last_seq: int = 0


class PatternDB:
    """Append-only feature vectors with outcomes; kNN by cosine similarity."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self.vectors: list[list[float]] = []
        self.outcomes: list[float] = []
        self.symbols: list[str] = []
        self.last_seq = 0  # the last ledger line folded in, saved with the content (exactly-once)

    def __len__(self) -> int:
        return len(self.outcomes)

    def add(self, vector: np.ndarray, outcome: float, symbol: str = "") -> None:
        self.vectors.append([float(x) for x in vector])
        self.outcomes.append(float(outcome))
        self.symbols.append(symbol)
        if len(self.outcomes) > self.capacity:
            del self.vectors[0], self.outcomes[0], self.symbols[0]

    def query(self, vector: np.ndarray, k: int = 15) -> Similarity:
        if not self.outcomes:
            return Similarity(0, None, None, None)
        mat = np.asarray(self.vectors)
        mu, sd = mat.mean(axis=0), mat.std(axis=0)
        sd[sd == 0] = 1.0
        z, q = (mat - mu) / sd, (np.asarray(vector) - mu) / sd
        norms = np.linalg.norm(z, axis=1) * (np.linalg.norm(q) or 1.0)
        sims = np.where(norms > 0, z @ q / np.where(norms > 0, norms, 1.0), 0.0)
        top = np.argsort(-sims)[:k]
        outs = np.asarray(self.outcomes)[top]
        return Similarity(len(top), float(np.mean(outs > 0)), float(np.mean(outs)), float(np.mean(sims[top])))

    def save(self, path: Path) -> None:
        doc = _PatternFile(vectors=self.vectors, outcomes=self.outcomes, symbols=self.symbols, last_seq=self.last_seq)
        write_model(path, doc)

    @classmethod
    def load(cls, path: Path, quarantine_dir: Path, capacity: int = 50_000) -> PatternDB:
        db = cls(capacity)
        doc = read_model(path, _PatternFile, quarantine_dir)
        if doc is not None:
            db.vectors, db.outcomes, db.symbols, db.last_seq = doc.vectors, doc.outcomes, doc.symbols, doc.last_seq
        return db
