"""Builders for foundation tests: a real AppContext on a temp root."""

from __future__ import annotations

from pathlib import Path

from src.config import AppConfig, parse_config
from src.config.secrets import Secrets
from src.core.bus import EventBus
from src.core.clock import MarketClock
from src.runtime.context import AppContext, Paths
from src.state.store import StateStore


def make_ctx(root: Path, config: dict | None = None) -> AppContext:
    cfg: AppConfig = parse_config(config or {})
    paths = Paths(root)
    paths.ensure()
    return AppContext(config=cfg, secrets=Secrets(), paths=paths, bus=EventBus(), store=StateStore(paths.state),
                      clock=MarketClock())
