"""Builders for execution tests: a real AppContext on a temp root, a paper engine, intents."""

from __future__ import annotations

from pathlib import Path

from ai_brain.paper.paper_trading_engine import PaperEngine
from src.config import AppConfig, parse_config
from src.config.execution import PaperConfig
from src.config.secrets import Secrets
from src.core.bus import EventBus
from src.core.clock import MarketClock
from src.core.events import CandleClosed, OrderBook
from src.market.cache import MarketCache
from src.orders.fees import FeeSchedule
from src.orders.interface import OrderIntent, client_order_id
from src.orders.ledger import Ledger
from src.runtime.context import Paths
from src.state.control import Controller
from src.state.inbox import CommandRegistry
from src.state.store import StateStore
from tests.rig import RigContext

HOUR_MS = 3_600_000


def make_ctx(root: Path, config: dict | None = None) -> RigContext:
    """A context with the foundation services the execution layer needs (control, commands, cache)."""
    cfg: AppConfig = parse_config(config or {})
    paths = Paths(root)
    paths.ensure()
    store = StateStore(paths.state)
    ctx = RigContext(config=cfg, secrets=Secrets(), paths=paths, bus=EventBus(), store=store, clock=MarketClock())
    ctx.services.update(control=Controller(store), commands=CommandRegistry(),
                        market_cache=MarketCache(cfg.replay.timeframe))
    return ctx


def make_engine(root: Path, clock: MarketClock | None = None, fees: FeeSchedule | None = None,
                **paper: object) -> PaperEngine:
    """A paper engine with its ledger and state under ``root``."""
    cfg = PaperConfig(**paper)  # type: ignore[arg-type]
    return PaperEngine(cfg, Ledger(root / "logs"), clock or MarketClock(HOUR_MS), StateStore(root / "state"),
                       fees=fees)


def intent(side: str = "buy", qty: float = 0.1, symbol: str = "BTC/USDT", *, kind: str = "market",
           price: float | None = None, purpose: str = "entry", seq: int = 0, market: str = "spot",
           reduce_only: bool = False, strategy: str = "s1", manual: bool = False) -> OrderIntent:
    return OrderIntent(client_order_id=client_order_id(strategy, symbol, 0, purpose, seq), strategy_id=strategy,
                       symbol=symbol, side=side, type=kind, qty_base=qty, price_quote=price,  # type: ignore[arg-type]
                       purpose=purpose, market=market, reduce_only=reduce_only, decision_ts_ms=0,  # type: ignore[arg-type]
                       manual=manual)


def candle(price: float = 100.0, ts_ms: int = 0, symbol: str = "BTC/USDT", volume: float = 1_000.0,
           spread: float = 1.0) -> CandleClosed:
    return CandleClosed(symbol, "1h", ts_ms, price, price + spread, price - spread, price, volume)


def book(bids: list[tuple[float, float]], asks: list[tuple[float, float]], ts_ms: int = HOUR_MS,
         symbol: str = "BTC/USDT") -> OrderBook:
    return OrderBook(symbol, ts_ms, tuple(bids), tuple(asks))

