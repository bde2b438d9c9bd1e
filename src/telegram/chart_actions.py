"""/chart: which picture, from which data, with which caption — a mixin of the cockpit.

The portfolio's equity curve (or the sampler's), the ledger's closed trades (markers, daily bars,
a strategy's cumulative P&L: the ledger is the append-only record written as each strategy
trades) and the sampled close prices of one symbol (the buy-and-hold benchmark). Drawing runs in a
worker thread, so a chart never stalls the trading loop.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from src.telegram.commands import Role
from src.telegram.render import ledger_views
from src.telegram.render.format import esc, money, pct, signed_money
from src.telegram.render.reports import NOT_AVAILABLE
from src.telegram.view import TradingView

if TYPE_CHECKING:
    from src.telegram.actions import Reply

Point = tuple[int, float]
Benchmark = Callable[[], tuple[str, Sequence[Point]]]
DAY_MS = 86_400_000


def daily_nets(rows: Sequence[ledger_views.Closed]) -> list[Point]:
    """Net P&L per UTC day of exit, as (day start ms, net)."""
    days: dict[int, float] = defaultdict(float)
    for r in rows:
        days[r.exit_ms // DAY_MS * DAY_MS] += r.net
    return sorted(days.items())


def cumulative(rows: Sequence[ledger_views.Closed]) -> list[Point]:
    """A strategy's cumulative net P&L, one step per closed trade, starting at 0 before the first."""
    if not rows:
        return []
    points: list[Point] = [(rows[0].exit_ms - 1, 0.0)]
    total = 0.0
    for r in rows:
        total += r.net
        points.append((r.exit_ms, total))
    return points


def daily_caption(nets: Sequence[float], quote: str) -> str:
    best, worst = (max(nets), min(nets)) if nets else (None, None)
    return (f"<b>Daily net P&amp;L</b>: {signed_money(sum(nets), quote)} over {len(nets)} day(s) with closed "
            f"trades; best {signed_money(best, quote)}, worst {signed_money(worst, quote)}")


def max_drawdown(values: Sequence[float]) -> float:
    peak, worst = float("-inf"), 0.0
    for v in values:
        peak = max(peak, v)
        if peak > 0:
            worst = min(worst, v / peak - 1.0)
    return worst


def _draw(kind: str, data: dict[str, Any]) -> bytes:
    """Render in a worker thread; matplotlib is imported on first use, not at start-up."""
    from src.telegram.render import charts

    if kind == "equity":
        return charts.equity_png(data["points"], quote=data["quote"], trades=data["trades"],
                                 benchmark=data["benchmark"], benchmark_label=data["label"])
    if kind == "daily":
        return charts.daily_pnl_png(data["days"], quote=data["quote"])
    if kind == "strategy":
        return charts.strategy_png(data["points"], data["id"], quote=data["quote"], trades=data["trades"])
    return charts.drawdown_png(data["points"])


class ChartCommands:
    """``/chart [equity|drawdown|daily|strategy ID]``."""

    ctx: Any
    view: TradingView
    quote: str
    _equity_points: Callable[[], Sequence[Point]]
    _benchmark: Benchmark

    if TYPE_CHECKING:
        async def _closed(self) -> list[ledger_views.Closed] | None: ...  # MoneyCommands provides it

        async def _strategy_record(self, sid: str, actor: str) -> tuple[dict[str, Any] | None, str]: ...

    async def cmd_chart(self, args: dict[str, str], actor: str, _role: Role) -> Reply:
        from src.telegram.actions import Reply

        kind = args.get("kind", "equity")
        rows = await self._closed() or []
        if kind == "strategy":
            return await self._strategy_chart(args.get("ID"), rows, actor)
        if kind == "daily":
            days = daily_nets(rows)
            data: dict[str, Any] = {"days": days, "quote": self.quote}
            caption = daily_caption([v for _, v in days], self.quote)
        else:
            points = list(self._equity_points())
            label, bench = self._benchmark()
            data = {"points": points, "quote": self.quote, "trades": [(r.exit_ms, r.net) for r in rows],
                    "benchmark": bench, "label": f"buy & hold {label}"}
            caption = self._equity_caption(kind, points, rows, label, bench)
        try:
            png = await asyncio.to_thread(_draw, kind, data)
        except ValueError as exc:  # charts.ChartError: not enough data
            source = "" if self.view.portfolio is not None else f" (portfolio {NOT_AVAILABLE})"
            return Reply(f"no {kind} chart yet: {exc}{source}")
        return Reply(caption, photo=png, html=True)

    def _equity_caption(self, kind: str, points: Sequence[Point], rows: Sequence[ledger_views.Closed],
                        label: str, bench: Sequence[Point]) -> str:
        values = [v for _, v in points]
        if len(values) < 2:
            return kind
        ret = values[-1] / values[0] - 1.0 if values[0] else None
        held = [v for t, v in bench if t >= points[0][0]]
        hold = held[-1] / held[0] - 1.0 if len(held) >= 2 and held[0] else None
        wins = sum(1 for r in rows if r.net > 0)
        if kind == "drawdown":
            return (f"<b>Drawdown</b>: worst {pct(max_drawdown(values), signed=False)}, "
                    f"now {pct(values[-1] / max(values) - 1.0, signed=False)} · equity {money(values[-1], self.quote)}")
        return (f"<b>Equity</b> {money(values[-1], self.quote)} ({pct(ret)}) · max DD "
                f"{pct(max_drawdown(values), signed=False)} · {len(rows)} trades, {wins} won · "
                f"buy &amp; hold {esc(label)} {pct(hold)} · cash {pct(0.0)}")

    async def _strategy_chart(self, sid: str | None, rows: Sequence[ledger_views.Closed], actor: str) -> Reply:
        """Live/paper trades from the ledger first; before any, the curve its evaluation recorded."""
        from src.telegram.actions import Reply

        if not sid:
            return Reply("usage: /chart [equity|drawdown|daily|strategy] [ID] (missing ID)")
        mine = [r for r in rows if r.strategy_id == sid]
        points, source = cumulative(mine), "closed trades"
        if len(points) < 2:
            record, message = await self._strategy_record(sid, actor)
            if record is None:
                return Reply(message or f"unknown strategy id {sid}")
            points, source = recorded_curve(record)
        if len(points) < 2:
            return Reply(f"strategy {sid} has no closed trades and no recorded equity curve yet")
        data = {"points": points, "id": sid, "quote": self.quote, "trades": [(r.exit_ms, r.net) for r in mine]}
        png = await asyncio.to_thread(_draw, "strategy", data)
        wins = sum(1 for r in mine if r.net > 0)
        caption = (f"<b>Strategy <code>{esc(sid)}</code></b> ({esc(source)}): last {money(points[-1][1], self.quote)}"
                   + (f" · {len(mine)} trades, {wins} won" if mine else ""))
        return Reply(caption, photo=png, html=True)


def recorded_curve(record: dict[str, Any]) -> tuple[list[Point], str]:
    """A strategy's recorded curve (live, then dry run, then backtest) as (ts_ms, equity), and which one."""
    performance = record.get("performance") or {}
    candidates: list[tuple[Any, str]] = [(record.get("equity_curve"), "recorded")]
    if isinstance(performance, dict):
        candidates += [((performance.get(s) or {}).get("equity_curve"), s) for s in ("live", "dry_run", "backtest")
                       if isinstance(performance.get(s), dict)]
    for curve, source in candidates:
        if isinstance(curve, list) and len(curve) >= 2:
            try:
                return [(int(p[0]), float(p[1])) for p in curve], source
            except (TypeError, ValueError, IndexError):
                continue
    return [], ""
