"""Prioritized experience replay: closed trades kept with a priority, sampled in proportion to it.

Proportional prioritization (Schaul et al.): P(i) = p_i^α / Σ p^α, with importance weights
w_i = (N · P(i))^-β / max w to undo the sampling bias. A ring buffer of fixed capacity (10,000
by default) overwrites the oldest experience. The whole buffer is persisted atomically as JSON
and reloaded, so priorities survive a restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from src.state.store import read_model, write_model

EPS = 1e-6


class Experience(BaseModel):
    """One closed automatic trade: the market state at entry and what came of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy_id: str
    symbol: str
    entry_ts: int
    features: list[float]
    ret: float
    regime: str | None = None


class _BufferFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capacity: int
    next_slot: int
    max_priority: float
    last_seq: int = 0
    items: list[Experience] = Field(default_factory=list)
    priorities: list[float] = Field(default_factory=list)


class PrioritizedReplayBuffer:
    """Fixed-capacity ring buffer with proportional priorities."""

    def __init__(self, capacity: int = 10_000, alpha: float = 0.6, beta: float = 0.4) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity, self.alpha, self.beta = capacity, alpha, beta
        self.items: list[Experience] = []
        self.priorities = np.zeros(capacity)
        self.next_slot = 0
        self.max_priority = 1.0
        self.last_seq = 0  # the last ledger line folded in, saved with the content (exactly-once)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, exp: Experience, priority: float | None = None) -> int:
        """Store ``exp`` (new experiences get the highest priority seen, so each is sampled soon)."""
        p = self.max_priority if priority is None else max(float(priority), EPS)
        slot = self.next_slot
        if slot < len(self.items):
            self.items[slot] = exp
        else:
            self.items.append(exp)
        self.priorities[slot] = p
        self.max_priority = max(self.max_priority, p)
        self.next_slot = (slot + 1) % self.capacity
        return slot

    def probabilities(self) -> np.ndarray:
        scaled = self.priorities[: len(self.items)] ** self.alpha
        return scaled / scaled.sum()

    def sample(self, n: int, rng: np.random.Generator, beta: float | None = None
               ) -> tuple[np.ndarray, list[Experience], np.ndarray]:
        """``n`` indices drawn by priority, the experiences, and their normalised importance weights."""
        if not self.items:
            raise ValueError("cannot sample an empty buffer")
        probs = self.probabilities()
        idx = rng.choice(len(self.items), size=n, p=probs)
        b = self.beta if beta is None else beta
        weights = (len(self.items) * probs[idx]) ** (-b)
        return idx, [self.items[i] for i in idx], weights / weights.max()

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """New priorities (e.g. |prediction error|) for sampled experiences."""
        for i, p in zip(indices, priorities, strict=True):
            self.priorities[int(i)] = max(float(p), EPS)
        self.max_priority = max(self.max_priority, float(np.max(priorities)) if len(priorities) else 0.0)

    def save(self, path: Path) -> None:
        doc = _BufferFile(capacity=self.capacity, next_slot=self.next_slot, max_priority=self.max_priority,
                          last_seq=self.last_seq, items=self.items,
                          priorities=self.priorities[: len(self.items)].tolist())
        write_model(path, doc)

    @classmethod
    def load(cls, path: Path, quarantine_dir: Path, capacity: int = 10_000, alpha: float = 0.6,
             beta: float = 0.4) -> PrioritizedReplayBuffer:
        """The saved buffer, or an empty one when there is none (a bad file is quarantined)."""
        buf = cls(capacity, alpha, beta)
        doc = read_model(path, _BufferFile, quarantine_dir)
        if doc is None:
            return buf
        keep = doc.items[-capacity:]
        pri = doc.priorities[-capacity:]
        buf.items = list(keep)
        buf.priorities[: len(keep)] = pri
        buf.next_slot = doc.next_slot % capacity if doc.capacity == capacity else len(keep) % capacity
        buf.max_priority = doc.max_priority
        buf.last_seq = doc.last_seq
        return buf

    def describe(self) -> dict[str, Any]:
        return {"size": len(self.items), "capacity": self.capacity, "max_priority": round(self.max_priority, 6)}
