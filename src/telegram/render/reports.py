"""Plain-text reports for a phone screen: status, positions, P&L, strategies, the daily report.

Pure functions from data to text, so the console (no token), Telegram and tests read the same
words. Inputs come from other parts of the bot whose types this module does not own (positions,
P&L, strategy records), so fields are read by name from objects or mappings alike, and a missing
field shows as "?" rather than breaking the whole message.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from src.telegram.render import format as fmt

NOT_AVAILABLE = "not available in this build"


def pick(obj: Any, *names: str, default: Any = None) -> Any:
    """The first of ``names`` present on ``obj`` (attribute or mapping key)."""
    for name in names:
        if isinstance(obj, Mapping) and name in obj:
            return obj[name]
        if not isinstance(obj, Mapping) and hasattr(obj, name):
            return getattr(obj, name)
    return default


def money(value: Any, quote: str = "") -> str:
    """``1234.5`` → ``"1,234.50 USDT"``; anything non-numeric → ``"?"``."""
    try:
        text = f"{float(value):,.2f}"
    except (TypeError, ValueError):
        return "?"
    return f"{text} {quote}".strip()


def signed(value: Any, quote: str = "") -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "?"
    return f"{'+' if number >= 0 else '−'}{money(abs(number), quote)}"


def duration(seconds: float) -> str:
    """``93784`` → ``"1d 2h 3m"``."""
    seconds = max(0, int(seconds))
    days, rem = divmod(seconds, 86_400)
    hours, rem = divmod(rem, 3_600)
    minutes = rem // 60
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return " ".join(parts)


def uptime_s(heartbeat: Mapping[str, Any], now_s: float | None = None) -> float | None:
    started = heartbeat.get("started_at")
    if not started:
        return None
    try:
        start = datetime.strptime(str(started), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
    return (now_s if now_s is not None else time.time()) - start


def format_status(mode: str, snap: Mapping[str, Any], counts: Mapping[str, int], equity_line: str,
                  positions: int | None) -> str:
    """The /status answer from the shared status command's snapshot."""
    control = snap.get("control", {}) or {}
    heartbeat = snap.get("heartbeat", {}) or {}
    up = uptime_s(heartbeat)
    lines = [
        f"AI Trading Lab — {mode} mode, {_run_state(control)}",
        f"live: {'CONFIRMED by ' + str(control.get('live_confirmed_by')) if control.get('live_confirmed') else 'no'}",
        f"uptime: {duration(up) if up is not None else '?'}",
        f"equity: {equity_line}",
        f"open positions: {positions if positions is not None else NOT_AVAILABLE}",
        "strategies: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"),
        f"data quality: {data_quality(snap)}",
        f"guards tripped: {guards_line(snap, control)}",
    ]
    evaluator = snap.get("evaluator")
    if isinstance(evaluator, Mapping) and evaluator.get("state"):  # only with a Dask executor
        lines.append(f"evaluator: {evaluator['state']}")
    tasks = heartbeat.get("tasks", {}) or {}
    troubled = [f"{n} {t.get('state')}" for n, t in tasks.items() if t.get("state") not in ("running", "done")]
    if troubled:
        lines.append("tasks: " + ", ".join(troubled))
    return "\n".join(lines)


def _run_state(control: Mapping[str, Any]) -> str:
    holds = control.get("holds") or []
    if holds:
        state = str(control.get("trading_state", "halted"))
        return (state.upper() if state == "halted" else state) + ": " + "; ".join(
            f"{h.get('kind')} by {h.get('by')} ({h.get('reason') or 'no reason'})" for h in holds)
    if control.get("halted"):
        return f"HALTED by {control.get('halted_by')}: {control.get('halted_reason')}"
    if control.get("paused"):
        return f"paused by {control.get('paused_by')}"
    if control.get("stop_requested"):
        return "stopping"
    return "running"


def data_quality(snap: Mapping[str, Any]) -> str:
    gate = snap.get("data_gate") or snap.get("data_integrity")
    if not isinstance(gate, Mapping):
        return NOT_AVAILABLE
    symbols = gate.get("symbols", gate)
    if not isinstance(symbols, Mapping) or not symbols:
        return str(gate)[:200]
    bad = [f"{s} {pick(v, 'status', default=v)}" for s, v in symbols.items()
           if str(pick(v, "status", default=v)) != "OK"]
    return "all OK" if not bad else ", ".join(bad)


def guards_line(snap: Mapping[str, Any], control: Mapping[str, Any]) -> str:
    """Kill switch, daily-loss block, halts and refusal counts by reason, from the risk status."""
    risk = snap.get("risk")
    tripped: list[str] = []
    if control.get("halted"):
        tripped.append("halt")
    if not isinstance(risk, Mapping):
        return ", ".join(tripped) or ("none" if control else NOT_AVAILABLE)
    kill = risk.get("kill_switch")
    if isinstance(kill, Mapping):
        if kill.get("tripped"):
            tripped.append(f"KILL SWITCH ({kill.get('reason') or 'drawdown'})")
        if kill.get("emergency"):
            tripped.append("emergency stop")
        if kill.get("daily_blocked"):
            tripped.append("daily loss limit")
    refused = risk.get("refused")
    if isinstance(refused, Mapping) and refused:
        tripped.append("refusals " + ", ".join(f"{k} {v}" for k, v in sorted(refused.items())))
    return ", ".join(tripped) or "none"


def format_positions(positions: Iterable[Any], quote: str, net: Iterable[Any] = ()) -> str:
    """Each strategy's own position, then what each venue holds per symbol (their sum: a venue nets
    by symbol, so a long and a short of two strategies show there as one smaller position)."""
    rows = list(positions)
    if not rows:
        return "no open positions"
    lines = [f"{len(rows)} open position(s):"]
    for p in rows:
        qty = pick(p, "qty_base", "quantity", "qty", default=None)
        side = pick(p, "side", default=None) or _side_of(qty)
        entry = pick(p, "avg_entry_quote", "entry_price_quote", "avg_entry_price", "entry_price")
        upnl = pick(p, "unrealized_quote", "unrealized_pnl_quote", "unrealized_pnl")
        strategy = pick(p, "strategy_id", default="")
        size = abs(float(qty)) if isinstance(qty, int | float) else "?"
        lines.append(f"• {pick(p, 'symbol', default='?')} {side} {size} @ {money(entry)} | "
                     f"uPnL {signed(upnl, quote)}" + (f" | {strategy}" if strategy else ""))
    nets = list(net)
    if nets:
        lines.append("venue net:")
    for n in nets:
        qty = pick(n, "qty_base", default=0.0)
        size = abs(float(qty)) if isinstance(qty, int | float) else "?"
        side = _side_of(qty) if isinstance(qty, int | float) and abs(qty) > 1e-12 else "flat"
        lines.append(f"• {pick(n, 'venue', default='?')} {pick(n, 'symbol', default='?')} "
                     f"{pick(n, 'market', default='')} {side} {size}")
    return "\n".join(lines)


def _side_of(qty: Any) -> str:
    if not isinstance(qty, int | float):
        return "?"
    return "long" if qty > 0 else "short"


def format_pnl(period: str, pnl: Any, quote: str) -> str:
    """Gross, fees, funding and net for ``period``; ``pnl`` is a mapping or an object with those fields.

    Fees and funding are shown as paid amounts (funding received shows as a negative payment),
    matching the portfolio's ``net = gross − fees − funding``.
    """
    lines = [f"P&L ({period}):",
             f"gross realized {signed(pick(pnl, 'gross_quote', 'gross'), quote)}",
             f"fees paid {money(pick(pnl, 'fees_quote', 'fees'), quote)}",
             f"funding paid {money(pick(pnl, 'funding_quote', 'funding'), quote)}",
             f"net {signed(pick(pnl, 'net_quote', 'net'), quote)}"]
    unrealized = pick(pnl, "unrealized_quote", "unrealized")
    if unrealized is not None:
        lines.append(f"unrealized now {signed(unrealized, quote)}")
    trades = pick(pnl, "trades", "n_trades")
    if trades is not None:
        lines.append(f"closed trades: {trades}")
    return "\n".join(lines)


def format_strategies(rows: Iterable[Any], status: str | None) -> str:
    items = list(rows)
    title = f"strategies ({status})" if status else "strategies"
    if not items:
        return f"{title}: none"
    lines = [f"{title}: {len(items)}"]
    for s in items[:40]:
        sid = pick(s, "id", "strategy_id", default="?")
        name, symbol = str(pick(s, "name", "type", default="") or ""), str(pick(s, "symbol", default="") or "")
        extra = [name] if name else []
        if symbol and symbol not in name and symbol.replace("/", "") not in str(sid):
            extra.insert(0, symbol)
        score = pick(s, "score")
        if isinstance(score, int | float):
            extra.append(f"score {score:.3f}")
        lines.append(f"• {sid} [{pick(s, 'status', default='?')}] " + " ".join(extra))
    if len(items) > 40:
        lines.append(f"… and {len(items) - 40} more")
    return "\n".join(lines)


def format_strategy(record: Mapping[str, Any]) -> str:
    """One strategy in detail: identity, status, symbols, key performance figures, last history entries."""
    raw_spec = record.get("spec")
    spec: Mapping[str, Any] = raw_spec if isinstance(raw_spec, Mapping) else {}
    symbols = record.get("symbols") or spec.get("symbols") or []
    lines = [f"{record.get('id', '?')} — {record.get('name', '')}",
             f"status: {record.get('status', '?')} | type: {record.get('type', '?')}",
             f"symbols: {', '.join(map(str, symbols)) or '?'} | "
             f"timeframe: {record.get('timeframe') or spec.get('timeframe') or '?'}"]
    verdict = record.get("verdict")
    if isinstance(verdict, Mapping):
        outcome = "passed" if verdict.get("passed") else "failed"
        lines.append(f"verdict: {outcome}, score {figure('score', verdict.get('score'))}")
    performance = record.get("performance") or {}
    for stage in ("backtest", "out_of_sample", "dry_run", "live"):
        figures = performance.get(stage) if isinstance(performance, Mapping) else None
        if isinstance(figures, Mapping) and figures:
            shown = [f"{k} {figure(k, v)}" for k, v in figures.items() if isinstance(v, int | float | str)][:6]
            lines.append(f"{stage}: " + ", ".join(shown))
    history = record.get("history") or []
    for entry in list(history)[-3:]:
        if isinstance(entry, Mapping):
            status = entry.get("to_status") or entry.get("status", "")
            lines.append(f"· {status} by {entry.get('actor', '?')}: {entry.get('reason', '')}")
    return "\n".join(lines)


PERCENT_KEYS = ("return", "drawdown", "win_rate", "exposure", "cagr")


def figure(key: str, value: Any) -> str:
    """A performance figure for people: fractions of returns and drawdowns in %, times as UTC dates,
    money with separators, other floats to three significant digits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    name = key.lower()
    if any(k in name for k in PERCENT_KEYS):
        return fmt.pct(value)
    if name.endswith(("_ms", "_ts")) or name in ("ts", "entered_at", "exited_at"):
        return fmt.when(value) + " UTC"
    if "equity" in name or name.endswith("_quote"):
        return fmt.money(value, "").strip()
    if "years" in name:
        return f"{value:.2f}"
    return fmt.sig(float(value), 3) if isinstance(value, float) else str(value)


def format_report(status_text: str, pnl_text: str, strategies_text: str) -> str:
    """The daily report: the three answers a person checks first, in one message."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"Daily report — {stamp}\n\n{status_text}\n\n{pnl_text}\n\n{strategies_text}"


def format_heartbeat(mode: str, snap: Mapping[str, Any]) -> str:
    heartbeat = snap.get("heartbeat", {}) or {}
    up = uptime_s(heartbeat)
    tasks = heartbeat.get("tasks", {}) or {}
    restarts = sum(int(t.get("restarts", 0)) for t in tasks.values())
    return (f"heartbeat: alive, {mode} mode, {_run_state(snap.get('control', {}) or {})}, "
            f"up {duration(up) if up is not None else '?'}, {len(tasks)} tasks, {restarts} restart(s)")
