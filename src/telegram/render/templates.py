"""One template per message kind: discovery, approval request, trade opened/closed, alert, report, status.

Each returns a :class:`~src.telegram.render.format.Message` whose first line reads well in a phone
notification (an emoji, the kind, the one fact that matters) with the details below. Inputs are
records and mappings owned by other parts of the bot, read by field name; a missing figure shows
as "n/a" rather than breaking the message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from src.telegram.render.format import Message, esc, money, pct, price, qty, ratio, shorten, signed_money, when

LEVEL_ICON = {"info": "ℹ️", "warning": "⚠️", "action": "❗", "critical": "🛑"}
LEVEL_LABEL = {"action": "ACTION NEEDED: ", "critical": "CRITICAL: "}
REASONING_CHARS = 600


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(name)
    return obj


def _market(record: Mapping[str, Any]) -> str:
    symbols = _get(record, "spec", "symbols") or record.get("symbols") or []
    timeframe = _get(record, "spec", "timeframe") or record.get("timeframe") or ""
    return " ".join(esc(x) for x in (", ".join(map(str, symbols)), timeframe) if x) or "n/a"


def _figures_line(label: str, figures: Any) -> str:
    if not isinstance(figures, Mapping) or not figures:
        return f"{label}: n/a"
    return (f"{label}: {figures.get('trades', 'n/a')} trades, return {pct(figures.get('total_return'))}, "
            f"Sharpe {ratio(figures.get('sharpe'))}, max DD {pct(figures.get('max_drawdown'), 1, signed=False)}")


def _strategy_body(record: Mapping[str, Any]) -> list[str]:
    performance = record.get("performance") or {}
    verdict = record.get("verdict") if isinstance(record.get("verdict"), Mapping) else {}
    lines = [f"<b>{esc(record.get('name', ''))}</b> · {_market(record)}",
             _figures_line("Out-of-sample", _get(performance, "out_of_sample")),
             _figures_line("In-sample", _get(performance, "backtest"))]
    if verdict:
        outcome = "passed" if verdict.get("passed") else "failed"
        lines.append(f"Evaluator: {outcome}, score {ratio(verdict.get('score'), 3)}")
    reasoning = _get(record, "source", "reasoning")
    if reasoning:
        lines.append(f"<i>Why:</i> {esc(shorten(reasoning, REASONING_CHARS))}")
    return lines


def discovery(record: Mapping[str, Any]) -> Message:
    """A new strategy found by the research loop (no buttons: it is not awaiting approval yet)."""
    sid, status = esc(record.get("id", "?")), esc(record.get("status", "?"))
    return Message(f"🔬 New strategy {sid} — {status}",
                   [*_strategy_body(record), f"Details: <code>/strategy {sid}</code>"])


def approval_request(record: Mapping[str, Any]) -> Message:
    """A strategy waiting for a person's approval (the only message that carries Approve/Reject)."""
    sid = esc(record.get("id", "?"))
    dry = _get(record, "performance", "dry_run")
    return Message(f"❗ Approval waiting: {sid}",
                   [*_strategy_body(record), _figures_line("Dry run", dry),
                    f"<code>/approve {sid}</code> or <code>/reject {sid} reason</code>"])


def trade_opened(t: Mapping[str, Any], quote: str, tick: float | None = None, step: float | None = None) -> Message:
    """A position opened: side, size and price first, then who and when."""
    side = str(t.get("side", "?"))
    icon = "🟢" if side in ("buy", "long") else "🔴"
    return Message(f"{icon} Opened {esc(side)} {esc(t.get('symbol', '?'))} @ {price(t.get('price'), tick)}",
                   [f"Size: {qty(t.get('qty'), step)} ({money(t.get('notional'), quote)})",
                    f"Strategy: <code>{esc(t.get('strategy_id') or 'manual')}</code>",
                    f"Time: {when(t.get('ts_ms'))} UTC"])


def trade_closed(t: Mapping[str, Any], quote: str, tick: float | None = None, step: float | None = None) -> Message:
    """A position closed: the net result in the first line, the prices and fees below."""
    pnl = t.get("pnl")
    icon = "✅" if isinstance(pnl, int | float) and pnl >= 0 else "❌"
    return Message(f"{icon} Closed {esc(t.get('symbol', '?'))}: {signed_money(pnl, quote)} ({pct(t.get('ret'))})",
                   [f"Entry {price(t.get('entry'), tick)} → exit {price(t.get('exit'), tick)}, "
                    f"size {qty(t.get('qty'), step)}",
                    f"Fees: {money(t.get('fees'), quote)} · reason: {esc(t.get('reason') or 'n/a')}",
                    f"Strategy: <code>{esc(t.get('strategy_id') or 'manual')}</code>",
                    f"Time: {when(t.get('ts_ms'))} UTC"])


def alert(level: str, title: str, text: str) -> Message:
    """Any other alert: the title (escaped) is the first line, the text below, one line per sentence group."""
    icon = LEVEL_ICON.get(level, "ℹ️")
    label = LEVEL_LABEL.get(level, "")
    heading = f"{icon} {label}<b>{esc(shorten(title, 100))}</b>"
    return Message(heading, [esc(line) for line in str(text).splitlines() if line.strip()])


def status(mode: str, run_state: str, equity: Any, quote: str, positions: int | None,
           today_pnl: Any = None, counts: Mapping[str, int] | None = None, details: Sequence[str] = ()) -> Message:
    """The /status message and the hourly status: state and equity in the first line."""
    lines = [f"Open positions: {positions if positions is not None else 'n/a'}",
             f"Today: {signed_money(today_pnl, quote)}" if today_pnl is not None else "Today: n/a"]
    if counts:
        lines.append("Strategies: " + ", ".join(f"{esc(k)} {v}" for k, v in counts.items()))
    lines += [esc(d) for d in details]
    return Message(f"📊 {esc(mode)} · {esc(run_state)} · equity {money(equity, quote)}", lines)


def report(stamp_ms: int, equity: Any, quote: str, pnl: Mapping[str, Any], strategies: Sequence[Mapping[str, Any]],
           returned: Any = None, drawdown: Any = None) -> Message:
    """The daily report: equity and the day's net in the first line; counts, not the whole list, below."""
    net = pnl.get("net_quote", pnl.get("net"))
    counts: dict[str, int] = {}
    for s in strategies:
        counts[str(s.get("status", "?"))] = counts.get(str(s.get("status", "?")), 0) + 1
    lines = [f"<b>{when(stamp_ms)} UTC</b>",
             f"Net {signed_money(net, quote)} · gross {signed_money(pnl.get('gross_quote'), quote)} · "
             f"fees {money(pnl.get('fees_quote'), quote)} · funding {money(pnl.get('funding_quote'), quote)}",
             f"Return since start {pct(returned)} · drawdown {pct(drawdown, signed=False)}",
             "Strategies: " + (", ".join(f"{esc(k)} {v}" for k, v in sorted(counts.items())) or "none")]
    waiting = [s for s in strategies if s.get("status") == "awaiting_approval"]
    lines += [f"❗ waiting: <code>{esc(s.get('id', '?'))}</code>" for s in waiting[:5]]
    return Message(f"🗓 Daily report: {money(equity, quote)}, today {signed_money(net, quote)}", lines)
