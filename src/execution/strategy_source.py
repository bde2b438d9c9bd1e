"""Which strategies the runner trades: a thin adapter over the lifecycle repository.

When the composition root hands the runner the AI brain's repository (anything with
``tradable(mode)``) the runner asks it. Until then — and in tests — :class:`FileStrategySource`
reads ``strategies/active`` and ``strategies/testing`` directly. Strategy files are untrusted
input: each is parsed into a :class:`~src.strategy.spec.StrategySpec`; a file that fails is
logged once (naming the file and the field) and skipped, never half-trusted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from src.core.enums import MONEY_STATUSES
from src.strategy.spec import StrategySpec

log = logging.getLogger(__name__)

TRADED_FOLDERS = ("active", "testing")


@dataclass(frozen=True)
class TradableStrategy:
    """A spec, its lifecycle status (dry_run, live, scaling, ...) and the share of its size it may use.

    ``size_fraction`` < 1 is how a strategy that just went live starts small and scales on evidence.
    """

    spec: StrategySpec
    status: str
    size_fraction: float = 1.0


class StrategySource(Protocol):
    def tradable(self, mode: str) -> list[TradableStrategy]: ...


def parse_strategy_file(data: dict[str, Any], default_status: str) -> TradableStrategy:
    """A strategy file is the spec itself (plus lifecycle keys) or ``{"spec": {...}, "status": ...}``."""
    body = data.get("spec", data)
    if not isinstance(body, dict):
        raise ValueError("'spec' must be an object")
    spec = StrategySpec.model_validate({k: v for k, v in body.items() if k in StrategySpec.model_fields})
    return TradableStrategy(spec, str(data.get("status") or default_status))


class FileStrategySource:
    """Reads strategy JSON files, re-parsing only files whose modification time changed."""

    RESCAN_S = 30.0

    def __init__(self, strategies_dir: Path, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.dir = strategies_dir
        self._cache: dict[Path, tuple[float, TradableStrategy | None]] = {}
        self._monotonic = monotonic
        self._stamp: tuple[int, ...] = ()
        self._scanned_at = -1e18
        self._last: list[TradableStrategy] = []
        self._folders = tuple((f, strategies_dir / f) for f in TRADED_FOLDERS)

    def tradable(self, _mode: str) -> list[TradableStrategy]:
        """Files are re-read when a folder changed (every atomic write renames into it) or every 30 s."""
        stamp = tuple(self._mtime_ns(path) for _, path in self._folders)
        now = self._monotonic()
        if stamp == self._stamp and now - self._scanned_at < self.RESCAN_S:
            return self._last
        self._stamp, self._scanned_at = stamp, now
        self._last = self._scan()
        return self._last

    @staticmethod
    def _mtime_ns(folder: Path) -> int:
        try:
            return folder.stat().st_mtime_ns
        except FileNotFoundError:
            return -1

    def _scan(self) -> list[TradableStrategy]:
        out: list[TradableStrategy] = []
        seen: set[Path] = set()
        for folder in TRADED_FOLDERS:
            for path in sorted((self.dir / folder).glob("*.json")):
                seen.add(path)
                found = self._load(path, folder)
                if found is not None:
                    out.append(found)
        for gone in set(self._cache) - seen:
            del self._cache[gone]
        return out

    def _load(self, path: Path, folder: str) -> TradableStrategy | None:
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None
        cached = self._cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        parsed: TradableStrategy | None = None
        try:
            parsed = parse_strategy_file(json.loads(path.read_text(encoding="utf-8")), folder)
        except (ValidationError, ValueError, OSError) as exc:
            first = str(exc).splitlines()
            log.error("strategy file %s/%s skipped: %s", folder, path.name, " ".join(first[:3]))
        self._cache[path] = (mtime, parsed)
        return parsed


class ServiceStrategySource:
    """Adapter over the lifecycle repository (``tradable(mode, live_gate_open)``).

    The repository answers per mode: paper-stage strategies (dry runs) for ``paper``, and
    live/scaling ones for ``live`` only while the gate is open. The runner trades both sets at
    once in live and testnet modes (the router sends each to its venue); a testnet's sandbox
    needs no gate. Items may carry ``spec``/``status``/``size_fraction`` or be bare specs.
    """

    def __init__(self, service: Any, gate_open: Callable[[], bool] = lambda: False,
                 live_start_fraction: float = 0.1) -> None:
        self.service, self._gate_open, self.live_start_fraction = service, gate_open, live_start_fraction

    def _ask(self, mode: str, gate: bool) -> list[Any]:
        try:
            return list(self.service.tradable(mode, live_gate_open=gate))
        except TypeError:
            return list(self.service.tradable(mode))

    def tradable(self, mode: str) -> list[TradableStrategy]:
        items = self._ask("paper", False)
        if mode in ("live", "testnet"):
            items += self._ask("live", mode == "testnet" or self._gate_open())
        out: dict[str, TradableStrategy] = {}
        for item in items:
            t = self._convert(item)
            out.setdefault(t.spec.id, t)
        return list(out.values())

    def _convert(self, item: Any) -> TradableStrategy:
        if isinstance(item, TradableStrategy):
            return item
        if isinstance(item, StrategySpec):
            return TradableStrategy(item, "active")
        status = str(getattr(item, "status", "active"))
        size = 1.0
        if status in MONEY_STATUSES:
            size = float(getattr(item, "size_fraction", 0.0) or 0.0) or self.live_start_fraction
        return TradableStrategy(item.spec, status, min(1.0, size))


def strategy_source(repository: Any | None, strategies_dir: Path, gate_open: Callable[[], bool] = lambda: False,
                    live_start_fraction: float = 0.1) -> StrategySource:
    """The repository when there is one, else the files."""
    if repository is not None:
        return ServiceStrategySource(repository, gate_open, live_start_fraction)
    return FileStrategySource(strategies_dir)
