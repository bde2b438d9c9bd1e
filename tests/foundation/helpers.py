"""Builders for foundation tests: a real AppContext on a temp root."""

from __future__ import annotations

from pathlib import Path

from src.app.bus import EventBus
from src.app.clock import MarketClock
from src.app.context import AppContext, Paths
from src.config import AppConfig, parse_config
from src.config.secrets import Secrets
from src.state.store import StateStore


def make_ctx(root: Path, config: dict | None = None) -> AppContext:
    cfg: AppConfig = parse_config(config or {})
    paths = Paths(root)
    paths.ensure()
    return AppContext(config=cfg, secrets=Secrets(), paths=paths, bus=EventBus(), store=StateStore(paths.state),
                      clock=MarketClock())
