"""The freqtrade-style commands: /balance, /daily /weekly /monthly, /performance, /trades, /forceexit,
/show_config, /version, /health — a mixin of :class:`~src.telegram.actions.Cockpit`.

Everything reads the portfolio and the ledger's closed trades (automatic ledger only: manual
trades are a person's, never a strategy's). /forceexit never closes anything itself: after the
confirmation code it sends ``close_position`` (one strategy) or ``close_all`` (every strategy, no
halt: entries stay allowed) through the shared command registry, the same path a script takes. A
build without ``close_all`` falls back to its flatten command, and the question says it halts.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from src.state.inbox import CommandRegistry
from src.telegram.commands import Role
from src.telegram.render import ledger_views, ops_views
from src.telegram.render.analytics import closed_trades
from src.telegram.render.format import esc, money, qty
from src.telegram.render.reports import NOT_AVAILABLE
from src.telegram.view import TradingView

if TYPE_CHECKING:
    from src.telegram.actions import Reply

REPO_ROOT = Path(__file__).resolve().parents[2]
CLOSE_ONE = "close_position"  # registry command: args {"strategy_id": ID}; the execution layer owns it
CLOSE_ALL = "close_all"  # registry command: every strategy's position, without the emergency stop's halt
FORCEEXIT = "forceexit"


def _reply(text: str, html: bool = True, ok: bool = True) -> Reply:
    from src.telegram.actions import Reply

    return Reply(text, html=html, ok=ok)


class MoneyCommands:
    """Command handlers that only read the portfolio and ledger, plus /forceexit's two steps."""

    ctx: Any
    view: TradingView
    quote: str
    codes: Any

    def portfolio(self) -> Any:
        """The execution layer's portfolio, or None in a build without one."""
        return self.view.portfolio

    async def _closed(self) -> list[ledger_views.Closed] | None:
        trades = await asyncio.to_thread(closed_trades, self.view, "auto")
        return None if trades is None else ledger_views.rows_of(trades)

    def _now_ms(self) -> int:
        return int(self.ctx.clock.now_ms() or time.time() * 1000)

    async def cmd_balance(self, _args: dict[str, str], _actor: str, _role: Role) -> Reply:
        portfolio = self.portfolio()
        if portfolio is None:
            return _reply(f"balance: {NOT_AVAILABLE}", html=False)
        pnl = portfolio.pnl("all") if hasattr(portfolio, "pnl") else None
        message = ledger_views.balance(portfolio.equity_quote(), self.ctx.config.paper.starting_balance_quote,
                                       portfolio.open_positions(), self.quote, pnl)
        return _reply(message.render())

    async def _periods(self, period: ledger_views.Period) -> Reply:
        rows = await self._closed()
        if rows is None:
            return _reply(f"{period}: {NOT_AVAILABLE} (no trade ledger)", html=False)
        return _reply(ledger_views.periods(rows, period, self._now_ms(), self.quote).render())

    async def cmd_daily(self, _args: dict[str, str], _actor: str, _role: Role) -> Reply:
        return await self._periods("daily")

    async def cmd_weekly(self, _args: dict[str, str], _actor: str, _role: Role) -> Reply:
        return await self._periods("weekly")

    async def cmd_monthly(self, _args: dict[str, str], _actor: str, _role: Role) -> Reply:
        return await self._periods("monthly")

    async def cmd_performance(self, _args: dict[str, str], _actor: str, _role: Role) -> Reply:
        rows = await self._closed()
        if rows is None:
            return _reply(f"performance: {NOT_AVAILABLE} (no trade ledger)", html=False)
        return _reply(ledger_views.performance(rows, self.quote).render())

    async def cmd_trades(self, args: dict[str, str], _actor: str, _role: Role) -> Reply:
        rows = await self._closed()
        if rows is None:
            return _reply(f"trades: {NOT_AVAILABLE} (no trade ledger)", html=False)
        n = max(1, min(int(args.get("N", "10")), 50))
        return _reply(ledger_views.recent_trades(rows, self.quote, n).render())

    async def cmd_show_config(self, args: dict[str, str], _actor: str, _role: Role) -> Reply:
        return _reply(ops_views.show_config(self.ctx.config, self.ctx.secrets, args.get("section")).render())

    async def cmd_version(self, _args: dict[str, str], _actor: str, _role: Role) -> Reply:
        return _reply((await asyncio.to_thread(ops_views.version, REPO_ROOT)).render())

    async def cmd_health(self, _args: dict[str, str], actor: str, _role: Role) -> Reply:
        result = await self.registry.execute("status", {}, actor) if "status" in self.registry.names() else None
        if result is None or not result[0]:
            return _reply("⚠️ health: the status command did not answer", html=False, ok=False)
        return _reply(ops_views.health(result[2]).render())

    # ---- /forceexit: describe, issue a code; /confirm runs it -----------------------------------
    @property
    def registry(self) -> CommandRegistry:
        return self.view.commands

    def _close_all_name(self) -> str | None:
        names = self.registry.names()
        return next((n for n in (CLOSE_ALL, "flatten", "emergency_stop") if n in names), None)

    async def cmd_forceexit(self, args: dict[str, str], actor: str, _role: Role) -> Reply:
        target = args["ID"]
        command = self._close_all_name() if target == "all" else (CLOSE_ONE if CLOSE_ONE in self.registry.names()
                                                                  else None)
        if command is None:
            return _reply(f"/forceexit {target}: {NOT_AVAILABLE} (no close command registered); nothing was sent",
                          html=False, ok=False)
        portfolio = self.portfolio()
        rows = portfolio.open_positions() if portfolio is not None else []
        mine = rows if target == "all" else [p for p in rows if p.get("strategy_id") == target]
        if portfolio is not None and not mine:
            return _reply(f"no open position for {esc(target)}: nothing to close", ok=False)
        shown = "".join(f"\n• <code>{esc(p.get('strategy_id'))}</code> {esc(p.get('symbol'))} "
                        f"{qty(p.get('qty_base'))} ≈ {money(p.get('notional_quote'), self.quote)}" for p in mine[:10])
        pending = self.codes.issue(FORCEEXIT, actor, {"id": target, "command": command})
        halt = ("This also HALTS new entries until /resume. " if command == "emergency_stop" else
                "No halt: entries stay allowed. " if target == "all" else "")
        return _reply(f"⚠️ Close {'every position' if target == 'all' else esc(target) + ' at market'}?{shown}\n"
                      f"{halt}Confirm within {int(self.codes.ttl_s)} s with: <code>/confirm {pending.code}</code>")

    async def run_forceexit(self, pending_args: dict[str, str], actor: str) -> Reply:
        """The confirmed second step: one request through the registry, its answer verbatim."""
        command, target = pending_args["command"], pending_args["id"]
        args = {} if target == "all" else {"strategy_id": target}
        ok, message, _ = await self.registry.execute(command, args, actor)
        return _reply(message if ok else f"/forceexit {target} refused: {message}", html=False, ok=ok)
