"""What each cockpit command does, independent of Telegram's wire format.

Telegram is just another surface: anything the shared :class:`~src.state.inbox.CommandRegistry`
offers (status, pause, resume, stop, approve, reject, strategies, ...) is *called* through it, so a
pause from the phone and a pause from a script are one code path. Where a part of the bot is not
there yet (no portfolio, no ledger), the answer says so instead of failing. Commands that move
money or stop trading take a second step with a one-time code (:mod:`src.control.golive`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.control.golive import GOLIVE, ConfirmationCodes, ConfirmError, GoLiveGate, PendingAction, live_blockers
from src.runtime.context import AppContext
from src.telegram.chart_actions import Benchmark, ChartCommands
from src.telegram.commands import Role, UsageError, allowed, help_text, lookup, short_help
from src.telegram.money_actions import FORCEEXIT, MoneyCommands
from src.telegram.outbox import Button
from src.telegram.render import reports, templates
from src.telegram.render.analytics import closed_trades, trade_analytics
from src.telegram.render.format import esc
from src.telegram.render.status_view import status_message
from src.telegram.strategy_files import find_strategy, list_strategies
from src.telegram.view import TradingView, strategy_counts

log = logging.getLogger(__name__)

NA = reports.NOT_AVAILABLE
PNL_PERIODS = {"today": "day"}  # the cockpit's words → the portfolio's period names
Result = tuple[bool, str, dict[str, Any]]


@dataclass
class Reply:
    """An answer: text, optionally a PNG (sent as a photo with the text as caption) and buttons."""

    text: str
    photo: bytes | None = None
    buttons: list[list[Button]] = field(default_factory=list)
    html: bool = False  # True: ``text`` is Telegram HTML already (from a template); else plain, escaped on send
    ok: bool = True  # False when the command was refused or could not run


class Cockpit(MoneyCommands, ChartCommands):
    """Turns a parsed command from an allowed person into a :class:`Reply`."""

    def __init__(self, ctx: AppContext, gate: GoLiveGate, codes: ConfirmationCodes, view: TradingView,
                 equity_points: Callable[[], Sequence[tuple[int, float]]] | None = None,
                 benchmark: Benchmark | None = None) -> None:
        self.ctx, self.view = ctx, view
        self.gate = gate
        self.codes = codes
        self._equity_points = equity_points or (lambda: [])
        self._benchmark = benchmark or (lambda: ("", []))
        self.quote = ctx.config.quote
        self.handled = 0

    async def dispatch(self, name: str, words: list[str], actor: str, role: Role) -> Reply:
        """Check the command, its arguments and the role, then run it; bad input gets usage, never a crash."""
        spec = lookup(name)
        if spec is None:
            return Reply(short_help(role))
        if not allowed(spec, role):
            return Reply(f"/{spec.name} is for admins; viewers can read only")
        try:
            args = spec.parse(words)
        except UsageError as exc:
            return Reply(str(exc))
        self.handled += 1
        log.info("telegram /%s from %s (%s)", spec.name, actor, role)
        try:
            return await getattr(self, f"cmd_{spec.name}")(args, actor, role)
        except Exception as exc:
            log.exception("telegram /%s from %s failed", spec.name, actor)
            return Reply(f"/{spec.name} failed: {type(exc).__name__}: {exc}"[:500])

    async def _call(self, name: str, args: dict[str, str], actor: str) -> Result | None:
        """Run a shared command; None when no part of this build registered it."""
        if name not in self.registry.names():
            return None
        return await self.registry.execute(name, args, actor)

    # ---- read-only -----------------------------------------------------------------------------
    async def status_text(self, actor: str = "telegram") -> str:
        """The status template as Telegram HTML (a missing part shows as n/a, special characters escaped)."""
        result = await self._call("status", {}, actor)
        if result is None:
            return esc(f"status: {NA}")
        ok, message, snap = result
        if not ok:
            return esc(f"status failed: {message}")
        portfolio = self.view.portfolio
        equity = portfolio.equity_quote() if portfolio is not None else None
        positions = len(portfolio.open_positions()) if portfolio is not None else None
        day = await self._call("pnl", {"period": "day"}, actor)
        today = day[2].get("net_quote") if day is not None and day[0] else None
        counts = strategy_counts(self.ctx.paths.strategies, self.view.strategies)
        return status_message(self.ctx.config.mode, snap, counts, equity, self.quote, positions, today).render()

    async def heartbeat_text(self) -> str:
        result = await self._call("status", {}, "scheduler")
        snap = result[2] if result is not None and result[0] else {}
        return reports.format_heartbeat(self.ctx.config.mode, snap)

    async def cmd_status(self, _args: dict[str, str], actor: str, _role: Role) -> Reply:
        return Reply(await self.status_text(actor), html=True)

    async def cmd_positions(self, _args: dict[str, str], actor: str, _role: Role) -> Reply:
        result = await self._call("positions", {}, actor)
        if result is not None:
            ok, message, data = result
            rows = data.get("positions") if ok else None
            net = data.get("net", []) if ok else []
            return Reply(reports.format_positions(rows, self.quote, net) if isinstance(rows, list) else message)
        portfolio = self.view.portfolio
        if portfolio is None:
            return Reply(f"positions: {NA}")
        return Reply(reports.format_positions(portfolio.open_positions(), self.quote, portfolio.net_positions()))

    async def pnl_text(self, period: str, actor: str) -> str:
        name = PNL_PERIODS.get(period, period)
        result = await self._call("pnl", {"period": name}, actor)
        if result is not None:
            ok, message, data = result
            return reports.format_pnl(period, data, self.quote) if ok and data else message
        portfolio = self.view.portfolio
        if portfolio is None or not hasattr(portfolio, "pnl"):
            return f"P&L: {NA}"
        return reports.format_pnl(period, portfolio.pnl(name), self.quote)

    async def cmd_pnl(self, args: dict[str, str], actor: str, _role: Role) -> Reply:
        return Reply(await self.pnl_text(args.get("period", "today"), actor))

    async def strategies_text(self, status: str | None, actor: str) -> str:
        result = await self._call("strategies", {"status": status} if status else {}, actor)
        if result is not None:
            ok, message, data = result
            rows = data.get("strategies") if ok else None
            return reports.format_strategies(rows, status) if isinstance(rows, list) else message
        return reports.format_strategies(list_strategies(self.ctx.paths.strategies, status), status)

    async def cmd_strategies(self, args: dict[str, str], actor: str, _role: Role) -> Reply:
        return Reply(await self.strategies_text(args.get("status"), actor))

    async def _strategy_record(self, sid: str, actor: str) -> tuple[dict[str, Any] | None, str]:
        result = await self._call("strategy", {"id": sid}, actor)
        if result is not None:
            ok, message, data = result
            record = data.get("strategy", data) if ok else None
            return (record if isinstance(record, dict) and record else None), message
        record = find_strategy(self.ctx.paths.strategies, sid)
        return record, "" if record else f"unknown strategy id {sid}"

    async def cmd_strategy(self, args: dict[str, str], actor: str, _role: Role) -> Reply:
        record, message = await self._strategy_record(args["ID"], actor)
        return Reply(reports.format_strategy(record) if record else message or f"unknown strategy id {args['ID']}")

    async def cmd_report(self, _args: dict[str, str], actor: str, _role: Role) -> Reply:
        """The daily report: equity and the day's net first, strategy counts (not the whole list) below."""
        portfolio = self.portfolio()
        equity = portfolio.equity_quote() if portfolio is not None else None
        result = await self._call("pnl", {"period": "day"}, actor)
        pnl = result[2] if result is not None and result[0] else (
            portfolio.pnl("day") if portfolio is not None and hasattr(portfolio, "pnl") else {})
        listed = await self._call("strategies", {}, actor)
        rows = listed[2].get("strategies") if listed is not None and listed[0] else None
        strategies = rows if isinstance(rows, list) else list_strategies(self.ctx.paths.strategies)
        start = self.ctx.config.paper.starting_balance_quote
        returned = equity / start - 1.0 if equity is not None and start > 0 else None
        values = [v for _, v in self._equity_points()]
        drawdown = values[-1] / max(values) - 1.0 if values and max(values) > 0 else None
        message = templates.report(int(self.ctx.clock.now_ms() or time.time() * 1000), equity, self.quote,
                                   pnl or {}, strategies, returned, drawdown)
        return Reply(message.render(), html=True)

    async def cmd_analytics(self, args: dict[str, str], actor: str, _role: Role) -> Reply:
        ledger_name = args["ledger"]
        result = await self._call("analytics", {"ledger": ledger_name}, actor)
        if result is not None:
            return Reply(result[1])
        trades = await asyncio.to_thread(closed_trades, self.view, ledger_name)
        if trades is None:
            return Reply(f"analytics ({ledger_name}): {NA} (no trade ledger)")
        return Reply(trade_analytics(trades, ledger_name, self.quote))

    async def cmd_logs(self, args: dict[str, str], _actor: str, _role: Role) -> Reply:
        limit = self.ctx.config.telegram.logs_max_lines
        n = max(1, min(int(args.get("N", "20")), limit))
        path = self.ctx.paths.logs / self.ctx.config.logging.file
        lines = await asyncio.to_thread(tail_log, path, n)
        return Reply("\n".join(lines) if lines else f"no log lines in {path.name}")

    async def cmd_help(self, _args: dict[str, str], _actor: str, role: Role) -> Reply:
        return Reply(help_text(role))

    # ---- changes -------------------------------------------------------------------------------
    async def _shared(self, name: str, args: dict[str, str], actor: str) -> Reply:
        result = await self._call(name, args, actor)
        if result is None:
            return Reply(f"/{name}: {NA}", ok=False)
        return Reply(result[1] if result[0] else f"/{name} refused: {result[1]}", ok=result[0])

    async def cmd_pause(self, _args: dict[str, str], actor: str, _role: Role) -> Reply:
        return await self._shared("pause", {"reason": "from Telegram"}, actor)

    async def cmd_resume(self, _args: dict[str, str], actor: str, _role: Role) -> Reply:
        return await self._shared("resume", {}, actor)

    async def cmd_release(self, args: dict[str, str], actor: str, _role: Role) -> Reply:
        return await self._shared("release", {"hold": args["hold"]}, actor)

    async def cmd_reject(self, args: dict[str, str], actor: str, _role: Role) -> Reply:
        return await self._shared("reject", {"id": args["ID"], "reason": args["reason"]}, actor)

    async def cmd_approve(self, args: dict[str, str], actor: str, _role: Role) -> Reply:
        if "approve" not in self.registry.names():
            return Reply(f"/approve: {NA}")
        if self._live_now():
            pending = self.codes.issue("approve", actor, {"id": args["ID"]})
            return Reply(f"live trading is on: approving {args['ID']} lets it trade REAL money. "
                         f"Confirm within {int(self.codes.ttl_s)} s with: /confirm {pending.code}")
        return await self._shared("approve", {"id": args["ID"]}, actor)

    def _live_now(self) -> bool:
        """Both halves of the double gate are open: an approval now would trade real money."""
        control = self.view.control
        live_confirmed = bool(control is not None and control.state.live_confirmed)
        return live_confirmed and not live_blockers(self.ctx.config)

    async def cmd_golive(self, _args: dict[str, str], actor: str, _role: Role) -> Reply:
        ok, message, data = self.gate.request(actor)
        would = data.get("would_go_live") if ok else None
        return Reply(message + (f"\nwould go live: {json.dumps(would)[:500]}" if would else ""))

    async def cmd_paper(self, _args: dict[str, str], actor: str, _role: Role) -> Reply:
        return Reply(self.gate.revoke(actor)[1])

    async def cmd_stop(self, args: dict[str, str], actor: str, _role: Role) -> Reply:
        flatten = "flatten" in args
        if flatten and self._flatten_command() is None:
            return Reply(f"flatten is {NA}; use /stop without it, or scripts/stop_trading.py --flatten")
        pending = self.codes.issue("stop", actor, {"flatten": "true"} if flatten else {})
        what = "close every position and stop the bot" if flatten else "stop the bot (positions stay as they are)"
        return Reply(f"to {what}, confirm within {int(self.codes.ttl_s)} s with: /confirm {pending.code}")

    async def cmd_confirm(self, args: dict[str, str], actor: str, _role: Role) -> Reply:
        try:
            pending = self.codes.redeem(args["CODE"], actor)
        except ConfirmError as exc:
            return Reply(f"not confirmed: {exc}")
        return await self._run_confirmed(pending, actor)

    async def _run_confirmed(self, pending: PendingAction, actor: str) -> Reply:
        if pending.action == GOLIVE:
            return Reply(self.gate.complete(actor)[1])
        if pending.action == "approve":
            return await self._shared("approve", dict(pending.args), actor)
        if pending.action == FORCEEXIT:
            return await self.run_forceexit(dict(pending.args), actor)
        if pending.args.get("flatten") == "true":
            name = self._flatten_command()
            if name is None:
                return Reply(f"flatten is {NA}; NOT stopping")
            ok, message, _ = await self.registry.execute(name, {}, actor)
            if not ok:
                return Reply(f"flatten failed, NOT stopping: {message}")
            stopped = await self._shared("stop", dict(pending.args), actor)
            return Reply(f"{message}\n{stopped.text}")
        return await self._shared("stop", dict(pending.args), actor)

    def _flatten_command(self) -> str | None:
        """The shared command that closes every position (the execution layer's emergency stop halts too)."""
        names = self.registry.names()
        return next((n for n in ("flatten", "emergency_stop") if n in names), None)


def tail_log(path: Path, n: int, max_bytes: int = 256_000) -> list[str]:
    """The last ``n`` lines of the JSON-lines log, made readable (``time level logger: msg``)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            raw = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    out = []
    for line in raw.splitlines()[-n:]:
        try:
            rec = json.loads(line)
            out.append(f"{rec.get('ts', '')[11:19]} {rec.get('level', '')[:4]} {rec.get('logger', '')}: "
                       f"{rec.get('msg', '')}"[:300])
        except (ValueError, AttributeError):
            out.append(line[:300])
    return out
