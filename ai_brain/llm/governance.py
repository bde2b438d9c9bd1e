"""LLM governance: audit cache, daily budget, circuit breaker, and the hallucination check.

- **Cache**: every prompt and its raw answer are stored under ``state/llm_cache/<hash>.json``
  (atomic writes), keyed by a hash of model + instructions + prompt + schema + temperature. An
  identical prompt is answered from disk, so a re-run reproduces the same hypotheses at no cost
  and every decision can be audited later.
- **Budget**: tokens and dollars per UTC day (wall clock: it is real money), persisted so a
  restart does not reset it; a call that could overrun it is refused before it is made.
- **Breaker**: after N consecutive failures calls are refused for a cool-down, then one trial
  call is let through.
- **Hallucination check**: figures the model cites must match the snapshot it was given.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from src.state.store import atomic_write_json, read_model


def prompt_key(model: str, system: str, prompt: str, schema_name: str, temperature: float) -> str:
    """The cache key: same inputs, same key, on any machine."""
    blob = json.dumps([model, system, prompt, schema_name, round(temperature, 4)], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CachedAnswer(BaseModel):
    """One stored exchange with the model (also the audit record)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    model: str
    system: str
    prompt: str
    temperature: float
    response_text: str | None
    prompt_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    created_at: str


class ResponseCache:
    """Prompt-hash → answer files; unreadable files are quarantined, not trusted."""

    def __init__(self, folder: Path, quarantine_dir: Path) -> None:
        self.folder = folder
        self.quarantine_dir = quarantine_dir
        self.hits = 0
        folder.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> CachedAnswer | None:
        found = read_model(self.folder / f"{key}.json", CachedAnswer, self.quarantine_dir)
        if found is not None:
            self.hits += 1
        return found

    def put(self, answer: CachedAnswer) -> None:
        atomic_write_json(self.folder / f"{answer.key}.json", answer.model_dump())


class BudgetState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: str = ""
    tokens: int = 0
    thinking_tokens: int = 0  # included in ``tokens``; shown apart because thinking is easy to overlook
    cost_usd: float = 0.0
    calls: int = 0
    refused: int = 0


def _utc_day(now_s: float) -> str:
    return datetime.fromtimestamp(now_s, UTC).strftime("%Y-%m-%d")


class TokenBudget:
    """Daily token and cost ceiling, persisted in ``state/llm_budget.json``."""

    def __init__(self, path: Path, quarantine_dir: Path, daily_tokens: int, daily_cost_usd: float,
                 usd_per_m_in: float, usd_per_m_out: float, now: Callable[[], float] = time.time) -> None:
        self.path, self.daily_tokens, self.daily_cost_usd = path, daily_tokens, daily_cost_usd
        self.usd_in, self.usd_out, self._now = usd_per_m_in / 1e6, usd_per_m_out / 1e6, now
        self.state = read_model(path, BudgetState, quarantine_dir) or BudgetState()

    def _roll(self) -> None:
        today = _utc_day(self._now())
        if self.state.day != today:
            self.state = BudgetState(day=today)

    def allows(self, est_tokens: int) -> str | None:
        """None when a call of about ``est_tokens`` fits; otherwise why not (and counted)."""
        self._roll()
        problem = None
        if self.state.tokens + est_tokens > self.daily_tokens:
            problem = f"daily token budget spent ({self.state.tokens} of {self.daily_tokens} used)"
        elif self.state.cost_usd + est_tokens * self.usd_out > self.daily_cost_usd:
            problem = f"daily cost budget spent (${self.state.cost_usd:.4f} of ${self.daily_cost_usd:.2f})"
        if problem:
            self.state.refused += 1
            self._save()
        return problem

    def charge(self, prompt_tokens: int, output_tokens: int, thinking_tokens: int = 0) -> None:
        """Book one call; thinking tokens are billed as output (https://ai.google.dev/gemini-api/docs/pricing:
        "Output price (including thinking tokens)")."""
        self._roll()
        self.state.tokens += prompt_tokens + output_tokens + thinking_tokens
        self.state.thinking_tokens += thinking_tokens
        self.state.cost_usd += prompt_tokens * self.usd_in + (output_tokens + thinking_tokens) * self.usd_out
        self.state.calls += 1
        self._save()

    def _save(self) -> None:
        atomic_write_json(self.path, self.state.model_dump())

    def describe(self) -> dict[str, Any]:
        self._roll()
        return {**self.state.model_dump(), "token_budget": self.daily_tokens, "cost_budget_usd": self.daily_cost_usd}


class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive failures → half-open after ``cooldown_s``."""

    def __init__(self, threshold: int, cooldown_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.threshold, self.cooldown_s, self._mono = threshold, cooldown_s, monotonic
        self.failures = 0
        self.opened_at: float | None = None
        self.trips = 0

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self._mono() - self.opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        return self.state != "open"

    def success(self) -> None:
        self.failures, self.opened_at = 0, None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold or self.state == "half_open":
            if self.opened_at is None or self.state == "half_open":
                self.trips += 1
            self.opened_at = self._mono()


_NUMBER = re.compile(r"(?<![\w.])[-+]?\$?\d[\d,]*(?:\.\d+)?%?")
_DURATION = re.compile(r"[-\s]?(?:period|bar|day|hour|week|candle|ema|sma|h\b|d\b)", re.IGNORECASE)


def _parse_number(token: str) -> tuple[float, bool]:
    is_pct = token.endswith("%")
    raw = token.replace("$", "").replace(",", "").rstrip("%")
    return float(raw), is_pct


def _near(value: float, targets: list[float], tol: float) -> bool:
    return any(abs(value - t) <= tol * max(abs(t), 1e-12) for t in targets)


def check_cited(cited: dict[str, float], snapshot: dict[str, float], tol: float) -> list[str]:
    """Problems with figures the model cited by name (unknown names and wrong values)."""
    problems = []
    for name, value in cited.items():
        if name not in snapshot:
            problems.append(f"cites {name!r}, which is not in the data it was given")
        elif not math.isfinite(value) or not _near(value, [snapshot[name]], tol):
            problems.append(f"says {name} = {value:g}, the data says {snapshot[name]:g}")
    return problems


def _unsupported(value: float, is_pct: bool, pcts: list[float], pool: list[float], tol: float) -> bool:
    if is_pct:
        return abs(value) > 0 and not _near(value, pcts, max(tol, 0.05))
    is_year = 1900 <= value <= 2100
    return abs(value) >= 100 and not is_year and not _near(value, pool, tol)


def check_reasoning_numbers(text: str, snapshot: dict[str, float], own_numbers: list[float], tol: float) -> list[str]:
    """Numbers in free text that look like market figures (percentages, or values of 100 and up,
    i.e. prices) must match a snapshot figure or one of the proposal's own parameters."""
    pool = list(snapshot.values()) + own_numbers
    pcts = [v * 100 for v in snapshot.values()] + pool
    problems = []
    for match in _NUMBER.finditer(text):
        token = match.group()
        if _DURATION.match(text, match.end()):
            continue  # "200-day", "14 bars": a look-back, not a market figure
        try:
            value, is_pct = _parse_number(token)
        except ValueError:
            continue
        if _unsupported(value, is_pct, pcts, pool, tol):
            problems.append(f"reasoning cites {token}, which matches no figure it was given")
    return problems
