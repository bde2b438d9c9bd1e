"""Near-duplicate detection, so the evaluator's time (and the trial count) is not spent twice.

Two specs are near-duplicates when they trade the same symbol and timeframe with the same rule
*structure* (same indicators, operators and groups) and every number — periods, thresholds,
risk genes — lies within a relative tolerance of the other's.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from src.strategy.spec import StrategySpec


def _split(node: Any, numbers: list[float]) -> Any:
    """The structure of ``node`` with every number replaced by '#', numbers collected in order."""
    if isinstance(node, bool) or node is None or isinstance(node, str):
        return node
    if isinstance(node, int | float):
        numbers.append(float(node))
        return "#"
    if isinstance(node, dict):
        return {k: _split(v, numbers) for k, v in sorted(node.items())}
    if isinstance(node, list):
        return [_split(v, numbers) for v in node]
    return str(node)


def signature(spec: StrategySpec) -> tuple[str, tuple[float, ...]]:
    """(structure hash, numbers) of what the engine reads: symbols, timeframe, rules, risk."""
    numbers: list[float] = []
    body = {"symbols": spec.symbols, "timeframe": spec.timeframe,
            "rules": spec.rules.model_dump(), "risk": spec.risk.model_dump()}
    shape = _split(body, numbers)
    key = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]
    return key, tuple(numbers)


def content_hash(spec: StrategySpec) -> str:
    """A short stable hash of the tradable content (used in ids)."""
    body = {"symbols": spec.symbols, "timeframe": spec.timeframe,
            "rules": spec.rules.model_dump(), "risk": spec.risk.model_dump()}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]


def _close(a: tuple[float, ...], b: tuple[float, ...], tol: float) -> bool:
    for x, y in zip(a, b, strict=True):
        scale = max(abs(x), abs(y))
        if scale > 0 and abs(x - y) / scale > tol:
            return False
    return True


class Deduplicator:
    """Remembers what it has seen; ``admit`` says whether a spec is new enough to evaluate."""

    def __init__(self, tolerance: float = 0.1) -> None:
        self.tolerance = tolerance
        self._seen: dict[str, list[tuple[float, ...]]] = {}
        self.dropped = 0

    def is_duplicate(self, spec: StrategySpec) -> bool:
        key, nums = signature(spec)
        return any(_close(nums, other, self.tolerance) for other in self._seen.get(key, []))

    def add(self, spec: StrategySpec) -> None:
        key, nums = signature(spec)
        self._seen.setdefault(key, []).append(nums)

    def admit(self, spec: StrategySpec) -> bool:
        """True (and remembered) when new; False (and counted) for a near-duplicate."""
        if self.is_duplicate(spec):
            self.dropped += 1
            return False
        self.add(spec)
        return True
