"""Composition root, trading loop: ledger, paper engine, portfolio, kill switch, guards, router, runner.

:func:`build_execution` builds the parts (tests and the benchmark use it directly);
:func:`add_execution_components` registers them as status providers, commands and one
supervised component. Start-up is recovery: the paper wallet applies ledger lines newer than its
summary, the portfolio folds the whole ledger, the runner re-sends intents it had written but
not booked — all before the first new bar is traded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ai_brain.paper.paper_trading_engine import PaperEngine
from src.app.supervisor import Supervisor
from src.core.events import Alert
from src.execution.live_ccxt import LiveVenue
from src.execution.router import Router
from src.execution.runner import StrategyRunner
from src.execution.strategy_source import FileStrategySource
from src.market.cache import MarketCache
from src.orders.fees import FeeSchedule
from src.orders.interface import ExecutionVenue, OrderIntent, OrderRecord, client_order_id
from src.orders.ledger import Ledger
from src.orders.portfolio import Portfolio
from src.risk.guards import RiskGuards
from src.risk.kill_switch import KillSwitch
from src.runtime.context import AppContext
from src.state.control import Controller
from src.state.inbox import CommandRegistry

log = logging.getLogger(__name__)

Result = tuple[bool, str, dict[str, Any]]


@dataclass
class Execution:
    """The parts of the trading loop of one bot."""

    ledger: Ledger
    paper: PaperEngine
    portfolio: Portfolio
    kill: KillSwitch
    guards: RiskGuards
    router: Router
    runner: StrategyRunner

    def flush(self) -> None:
        """Write the summaries that may lag the ledger (wallet) and the runner state; used at shutdown."""
        self.runner.save()
        self.paper.wallet.save()


def build_execution(ctx: AppContext, control: Controller, cache: MarketCache, *, gate: Any | None = None,
                    ledger: Ledger | None = None, live: ExecutionVenue | None = None,
                    strategies: Any | None = None, ledger_fsync: bool = True) -> Execution:
    """Build every part of the trading loop; ``live`` is the exchange venue (testnet/live only),
    ``strategies`` the lifecycle repository (the runner reads strategy files without one)."""
    cfg = ctx.config
    ledger = ledger or Ledger(ctx.paths.logs, fsync=ledger_fsync)
    paper = PaperEngine(cfg.paper, ledger, ctx.clock, ctx.store, quote=cfg.quote, publish=ctx.bus.publish,
                        price_fallback=cache.last_price, fees=FeeSchedule.from_config(cfg.fees))
    # equity per venue, never summed: live risk is measured on the exchange account, dry runs on paper
    equity: dict[str, Callable[[], float]] = {"paper": paper.equity_quote}
    if isinstance(live, LiveVenue) and cfg.mode in ("testnet", "live"):
        equity["live"] = live.equity_quote

    def price(symbol: str) -> float | None:
        return paper.ref_price(symbol) or cache.last_price(symbol)

    known = live.equity_known if isinstance(live, LiveVenue) and "live" in equity else (lambda: True)
    portfolio = Portfolio(ledger, equity, price, ctx.paths.logs, clock_ms=ctx.clock.now_ms,
                          primary_venue="live" if "live" in equity else "paper", equity_known=known)
    kill = KillSwitch(cfg.risk, ctx.store, control, ctx.bus.publish, ledger=ledger)
    guards = RiskGuards(cfg.risk, control, kill, portfolio, cache, ctx.clock, cfg.paper.min_notional_quote,
                        data_gate=lambda: gate)
    router = Router(cfg.mode, cfg.live.allow_live_trading, control, guards, paper, lambda: live, ctx.bus.publish,
                    ctx.clock.now_ms)
    runner = StrategyRunner(cfg.mode, router, cache, ledger, kill, portfolio, ctx.store, ctx.clock, strategies,
                            FileStrategySource(ctx.paths.strategies), cfg.paper.runner_window_bars,
                            cfg.risk.maintenance_margin, cfg.live.initial_size_fraction, publish=ctx.bus.publish)
    return Execution(ledger, paper, portfolio, kill, guards, router, runner)


class RunnerComponent:
    """The runner as a supervised component: recover, then open the tick (``ready``) and stand by.

    The tick pipeline (:mod:`src.execution.tick`) hands the runner every market event; it waits on
    ``ready`` so no bar is traded before start-up recovery has finished.
    """

    name = "runner"

    def __init__(self, ctx: AppContext, ex: Execution, ready: asyncio.Event) -> None:
        self.ctx, self.ex, self.ready = ctx, ex, ready

    async def run(self) -> None:
        await self.ex.runner.recover()
        orphans = self.ex.runner.unmanaged_positions()
        if orphans:
            log.critical("positions nobody manages: %s", "; ".join(orphans))
            self.ctx.bus.publish(Alert("action", "Positions without a manager",
                                       "The ledger holds positions the strategy runner does not manage "
                                       f"(its state was lost?): {'; '.join(orphans)}. Close them by hand "
                                       "(manual_order ... reduce_only=true) or check state/quarantine.",
                                       key="unmanaged_positions", ts_ms=self.ctx.clock.now_ms()))
        self.ready.set()
        await asyncio.Event().wait()


def _register_commands(ctx: AppContext, ex: Execution, registry: CommandRegistry) -> None:

    async def emergency_stop(_args: dict[str, str], actor: str) -> Result:
        ex.kill.emergency_stop(actor, ctx.clock.now_ms())
        await ex.runner.flatten_all("flatten", ctx.clock.now_ms())
        return True, "EMERGENCY STOP: halted, every position sent to close; only a person can resume", {}

    async def risk(_args: dict[str, str], _actor: str) -> Result:
        return True, "risk guards", ex.guards.describe()

    async def positions(_args: dict[str, str], _actor: str) -> Result:
        rows = ex.portfolio.open_positions()
        return True, f"{len(rows)} open position(s)", {"positions": rows, "net": ex.portfolio.net_positions()}

    async def pnl(args: dict[str, str], _actor: str) -> Result:
        period = args.get("period", "day")
        if period not in ("day", "week", "month", "all"):
            return False, "period must be day, week, month or all", {}
        return True, f"P&L ({period})", ex.portfolio.pnl(period, ctx.clock.now_ms())  # type: ignore[arg-type]

    async def manual_order(args: dict[str, str], _actor: str) -> Result:
        try:
            intent = _manual_intent(args, ctx.clock.now_ms())
        except (KeyError, ValueError) as exc:
            return False, f"manual_order needs symbol, side, qty_base [, price_quote, reduce_only]: {exc}", {}
        decision, rec = await ex.router.submit(intent, "manual", held_base=None)
        if rec is None:
            return False, f"refused by the risk guards: {decision.reason or decision.detail}", {}
        return rec.status in ("filled", "partially_filled", "open"), f"manual order {rec.status}", {
            "client_order_id": intent.client_order_id, "filled_qty_base": rec.filled_qty_base,
            "avg_price_quote": rec.avg_price_quote, "fee_quote": rec.fee_quote, "reason": rec.reason}

    registry.register("emergency_stop", emergency_stop, "halt and close every position now")
    _register_close_commands(ex, registry)
    registry.register("manual_order", manual_order,
                      "paper order by hand (manual ledger): symbol side qty_base [price_quote] [reduce_only]")
    registry.register("risk", risk, "risk guard counters, recent refusals, kill switch")
    registry.register("positions", positions, "open positions with unrealized P&L")
    registry.register("pnl", pnl, "P&L: gross, fees, funding, net (period=day|week|month|all)")


def _register_close_commands(ex: Execution, registry: CommandRegistry) -> None:
    """A person's closes (/forceexit): one strategy's trades, or every one without a halt."""

    async def close_position(args: dict[str, str], _actor: str) -> Result:
        sid = args.get("strategy_id", "").strip()
        if not sid:
            return False, "close_position needs strategy_id", {}
        sent = await ex.runner.close_strategy(sid)
        if not sent:
            return False, f"{sid} has no open position in the runner: nothing sent", {}
        return True, _sent_text(f"{sid}: close sent", sent), {"orders": [_order_row(r) for r in sent]}

    async def close_all(_args: dict[str, str], _actor: str) -> Result:
        sent = await ex.runner.close_all()
        text = _sent_text("close sent for every position", sent) if sent else "no open position: nothing sent"
        return True, f"{text}\nno halt: entries stay allowed", {"orders": [_order_row(r) for r in sent]}

    registry.register("close_position", close_position,
                      "close one strategy's position(s) at market (strategy_id=ID); exits are never blocked")
    registry.register("close_all", close_all, "close every strategy's position at market, without a halt")


def _order_row(rec: OrderRecord) -> dict[str, Any]:
    i = rec.intent
    return {"strategy_id": i.strategy_id, "symbol": i.symbol, "side": i.side, "qty_base": i.qty_base,
            "status": rec.status, "filled_qty_base": rec.filled_qty_base, "avg_price_quote": rec.avg_price_quote}


def _sent_text(head: str, sent: list[OrderRecord]) -> str:
    """What was sent, one line per order (plain text: the cockpit escapes it)."""
    lines = [f"{r.intent.strategy_id} {r.intent.symbol} {r.intent.side} {r.intent.qty_base:.8g} → {r.status}"
             + (f", {r.filled_qty_base:.8g} filled @ {r.avg_price_quote:.8g}" if r.avg_price_quote else "")
             for r in sent]
    return "\n".join([head, *lines])


def _manual_intent(args: dict[str, str], now_ms: int) -> OrderIntent:
    """A person's order from command arguments; ``id`` (the command id) makes a repeat idempotent."""
    side = args["side"].lower()
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be buy or sell, not {side!r}")
    price = float(args["price_quote"]) if args.get("price_quote") else None
    reduce_only = args.get("reduce_only", "").lower() in ("1", "true", "yes")
    key = args.get("id") or str(now_ms)  # a command id makes the same command the same order
    return OrderIntent(client_order_id=client_order_id(f"manual:{key}", args["symbol"], 0, "manual"),
                       strategy_id="manual", symbol=args["symbol"], side=side,  # type: ignore[arg-type]
                       type="limit" if price else "market", qty_base=float(args["qty_base"]), price_quote=price,
                       purpose="manual", reduce_only=reduce_only, decision_ts_ms=now_ms, manual=True)


def add_execution_components(ctx: AppContext, supervisor: Supervisor, ex: Execution, registry: CommandRegistry,
                             ready: asyncio.Event) -> None:
    """Register the trading loop: status, commands, the runner component, a shutdown flush."""
    ctx.status.register("risk", ex.guards.describe)
    ctx.status.register("portfolio", ex.portfolio.describe)
    ctx.status.register("paper", ex.paper.describe)
    ctx.status.register("runner", ex.runner.describe)
    _register_commands(ctx, ex, registry)
    supervisor.add(RunnerComponent(ctx, ex, ready))

    async def flush() -> None:
        ex.flush()

    supervisor.on_shutdown("execution", flush)
