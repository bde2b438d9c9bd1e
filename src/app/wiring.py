"""The composition root: the one place that builds every component and connects them.

Read :func:`assemble` top to bottom: it is the whole bot. Components receive what they use as
constructor arguments, so nothing looks anything up by name at run time, and the result is one
typed, frozen :class:`Services` bundle that the entry point, the scripts' tests and the benchmarks
can inspect. Only this package (``src/app``) imports across every layer; see ARCHITECTURE.md.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ai_brain.data.data_integrity_monitor import DataIntegrityMonitor
from ai_brain.data.realtime_market_data import RealtimeMarketData
from ai_brain.discovery.brain_cycle import BrainInputs
from ai_brain.discovery.carry_record import carry_status, ensure_carry_record
from ai_brain.discovery.learning_engine import LearningEngine
from ai_brain.discovery.lifecycle import Lifecycle
from ai_brain.discovery.strategy_store import StrategyStore
from src.app.control_commands import register_control_commands
from src.app.notifier import ConsoleNotifier
from src.app.status_line import StatusLine
from src.app.supervisor import Supervisor
from src.app.wire_brain import BrainParts, add_brain_components, build_strategy_book
from src.app.wire_cockpit import CockpitParts, add_telegram_components
from src.app.wire_execution import Execution, add_execution_components, build_execution
from src.app.wire_live import LiveParts, add_live_components, build_live_venue
from src.control.golive import live_policy
from src.core.clock import MarketClock
from src.core.events import Event
from src.exchange.clients import ExchangeClients, build_exchange_clients
from src.execution.live_ccxt import LiveVenue
from src.execution.tick import Decider, TickPipeline
from src.market.cache import MarketCache
from src.market.replay import ReplayFeed, build_source
from src.orders.ledger import Ledger
from src.runtime.context import AppContext
from src.state.control import Controller
from src.state.inbox import CommandRegistry, InboxProcessor
from src.telegram.view import TradingView

TRADING_MODES = ("testnet", "live")


@dataclass(frozen=True)
class Services:
    """Every long-lived part of one bot, typed; None where the mode or config leaves a part out."""

    control: Controller
    commands: CommandRegistry
    cache: MarketCache
    gate: DataIntegrityMonitor
    tick: TickPipeline
    exchange: ExchangeClients | None
    execution: Execution
    live_venue: LiveVenue | None
    live: LiveParts
    strategies: StrategyStore
    lifecycle: Lifecycle
    brain: BrainParts | None
    cockpit: CockpitParts
    feed: ReplayFeed | RealtimeMarketData | None

    @property
    def learning(self) -> LearningEngine | None:
        return self.brain.learning if self.brain is not None else None


def assemble(ctx: AppContext, supervisor: Supervisor) -> Services:
    """Build every component for the configured mode and register it with the supervisor."""
    cfg = ctx.config
    control, commands = Controller(ctx.store, live=live_policy(cfg, ctx.secrets)), CommandRegistry()
    register_control_commands(ctx, commands, control, supervisor)
    exchange = _exchange(ctx, supervisor)
    replay_source = build_source(ctx) if cfg.mode == "replay" else None
    cache = MarketCache(getattr(replay_source, "timeframe", None) or cfg.replay.timeframe)
    gate = DataIntegrityMonitor(ctx)
    strategies, lifecycle = build_strategy_book(ctx, commands)
    ledger = Ledger(ctx.paths.logs)
    live = build_live_venue(ctx, exchange, ledger, cache) if cfg.mode in TRADING_MODES and exchange else None
    ex = build_execution(ctx, control, cache, gate=gate, ledger=ledger, live=live, strategies=strategies)
    if cfg.funding.enabled:  # the carry is a strategy record like any other; the lifecycle gives its status
        ensure_carry_record(strategies, cfg.funding.symbols)
    live_parts = add_live_components(ctx, supervisor, ex, live, exchange, control, commands, cache,
                                     carry_status=lambda: carry_status(strategies))
    ready = asyncio.Event()
    deciders: list[Decider] = [ex.runner] + ([live_parts.carry] if live_parts.carry is not None else [])
    tick = TickPipeline(gate, cache, deciders, ctx.bus.publish, ready=ready)
    feed = _feed(ctx, replay_source, cache, exchange, tick)
    add_execution_components(ctx, supervisor, ex, commands, ready)
    brain = add_brain_components(ctx, supervisor, strategies, lifecycle,
                                 BrainInputs(cache, control, ledger, gate, runner_present=True))
    view = TradingView(commands, control, ex.portfolio, ledger, strategies)
    cockpit = add_telegram_components(ctx, supervisor, view)
    _observers(ctx, supervisor, gate, tick, cache, view, commands)
    if feed is not None:
        supervisor.add(feed)
    ctx.store.alerts.connect(ctx.bus.publish)  # start-up recovery alerts, now that notifiers listen
    return Services(control, commands, cache, gate, tick, exchange, ex, live, live_parts, strategies, lifecycle,
                    brain, cockpit, feed)


def _exchange(ctx: AppContext, supervisor: Supervisor) -> ExchangeClients | None:
    """The shared exchange clients outside replay, closed after every task has stopped."""
    if ctx.config.mode == "replay":
        return None
    clients = build_exchange_clients(ctx)
    ctx.status.register("exchange", clients.snapshot)
    supervisor.on_shutdown("exchange", clients.close, phase="release")  # idempotent
    return clients


def _feed(ctx: AppContext, source: object, cache: MarketCache, exchange: ExchangeClients | None,
          tick: TickPipeline) -> ReplayFeed | RealtimeMarketData | None:
    """Replay from files or the simulator, or the exchange's REST feed; both hand bars to the tick."""
    if source is not None:
        assert isinstance(ctx.clock, MarketClock)
        feed = ReplayFeed(ctx, source, cache, ctx.clock, tick.deliver)  # type: ignore[arg-type]
        feed.warm_up()
        return feed
    if exchange is None:
        return None
    realtime = RealtimeMarketData(ctx, exchange, cache, tick.deliver)
    ctx.status.register(realtime.name, realtime.snapshot)
    return realtime


def _observers(ctx: AppContext, supervisor: Supervisor, gate: DataIntegrityMonitor, tick: TickPipeline,
               cache: MarketCache, view: TradingView, commands: CommandRegistry) -> None:
    """Parts that watch and tell but never decide a trade."""
    ctx.status.register(gate.name, gate.snapshot)
    ctx.status.register("tick", tick.describe)
    supervisor.add(gate)
    sub = ctx.bus.subscribe("supervisor_ticks", _note_tick(supervisor), kinds=("candle", "tick"))
    supervisor.add(_Subscriber("supervisor_ticks", ctx, sub))
    supervisor.add(ConsoleNotifier(ctx))
    supervisor.add(StatusLine(ctx, cache, view))
    supervisor.add(InboxProcessor(ctx.paths.inbox, ctx.paths.outbox, commands))


def _note_tick(supervisor: Supervisor):  # type: ignore[no-untyped-def]
    async def handle(_event: Event) -> None:
        supervisor.note_tick()
    return handle


class _Subscriber:
    """Wraps a bare bus subscription as a component."""

    def __init__(self, name: str, ctx: AppContext, sub: object) -> None:
        self.name, self.ctx, self.sub = name, ctx, sub

    async def run(self) -> None:
        await self.ctx.bus.run_subscriber(self.sub)  # type: ignore[arg-type]
