"""What every component receives: config, paths, bus, store, clock, status board.

Components are built from an :class:`AppContext` and expose ``name`` plus ``async run()``;
the supervisor owns their tasks. Nothing else is global.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from src.config import AppConfig, Secrets
from src.core.bus import EventBus
from src.core.clock import Clock
from src.state.store import StateStore


@dataclass(frozen=True)
class Paths:
    """Where runtime data lives; all under one root so tests and scripts can point elsewhere."""

    root: Path

    @property
    def strategies(self) -> Path:
        return self.root / "strategies"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def inbox(self) -> Path:
        return self.state / "inbox"

    @property
    def outbox(self) -> Path:
        return self.state / "outbox"

    def ensure(self) -> None:
        for sub in ("testing", "active", "retired"):
            (self.strategies / sub).mkdir(parents=True, exist_ok=True)
        for folder in (self.state, self.logs, self.outbox):
            folder.mkdir(parents=True, exist_ok=True)
        self.inbox.mkdir(mode=0o700, exist_ok=True)  # commands: only the bot's user may drop them


StatusProvider = Callable[[], dict[str, Any]]


@dataclass
class StatusBoard:
    """Components register a callable that describes them; status, heartbeat and Telegram read it."""

    providers: dict[str, StatusProvider] = field(default_factory=dict)

    def register(self, name: str, provider: StatusProvider) -> None:
        self.providers[name] = provider

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, provider in self.providers.items():
            try:
                out[name] = provider()
            except Exception as exc:  # a broken provider must not break status
                out[name] = {"error": repr(exc)}
        return out


class Component(Protocol):
    """A long-lived part of the bot; ``run`` returns only when cancelled or done."""

    name: str

    async def run(self) -> None: ...


@dataclass
class AppContext:
    """Everything a component may use; built once by the entry point."""

    config: AppConfig
    secrets: Secrets
    paths: Paths
    bus: EventBus
    store: StateStore
    clock: Clock
    status: StatusBoard = field(default_factory=StatusBoard)
