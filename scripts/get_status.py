"""Show the bot's status from its files, whether or not it runs; optionally ask the live bot too.

Reads state/heartbeat.json, state/control.json, strategies/<folder>/ and the open positions the
ledger (logs/ledger_*.jsonl) implies, per venue; checks the pid (state/bot.pid) is alive and
really the bot. With --live and a healthy bot it also asks the bot for its own status through the
inbox. Never writes anything.

    python scripts/get_status.py --root /srv/ai-trading-lab
    python scripts/get_status.py --json --live
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    import _bootstrap  # noqa: F401  (repo root importable when run as a file)

from scripts.common import (
    EXIT_BOT_DOWN,
    EXIT_OK,
    EXIT_UNHEALTHY,
    HOLD_FILE,
    ScriptError,
    emit,
    find_bot,
    ledger_fills,
    make_parser,
    net_positions,
    read_json,
    run_script,
    send_command,
)
from src.orders.ledger import AUTO_FILE, LedgerEntry
from src.orders.order_filters import SymbolFilters
from src.state.control import ControlState
from src.telegram.render.format import money, qty, signed_money, when

STRATEGY_FOLDERS = ("testing", "active", "retired")
EQUITY_FILE = "equity_curve.jsonl"
DAY_MS = 86_400_000


def strategy_summary(strategies: Path) -> dict[str, Any]:
    """Files per lifecycle folder, plus the ``status`` field inside them where there is one."""
    folders: dict[str, int] = {}
    statuses: Counter[str] = Counter()
    unreadable: list[str] = []
    for folder in STRATEGY_FOLDERS:
        files = sorted((strategies / folder).glob("*.json"))
        folders[folder] = len(files)
        for path in files:
            body, problem = read_json(path)
            if problem or not isinstance(body, dict):
                unreadable.append(f"{folder}/{path.name}")
            elif isinstance(body.get("status"), str):
                statuses[body["status"]] += 1
    return {"folders": folders, "statuses": dict(statuses), "unreadable": unreadable}


def positions_summary(root: Path) -> dict[str, Any]:
    """Open positions per venue from the bot's ledger (the source of truth for money)."""
    fills, bad = ledger_fills(root / "logs")
    venues = sorted({f.venue for f in fills})
    open_by_venue = {v: [{"symbol": s, "market": m, "qty_base": q}
                         for (s, m), q in net_positions(fills, (v,)).items()] for v in venues}
    wallet, problem = read_json(root / "state" / "paper_wallet.json")
    balances = wallet.get("balances") if isinstance(wallet, dict) else None
    return {"fills": len(fills), "unreadable_ledger_lines": bad,
            "open": {v: rows for v, rows in open_by_venue.items() if rows},
            "paper_balances": balances if isinstance(balances, dict) else None, "paper_wallet_problem": problem}


def last_equity(logs: Path) -> tuple[int, float] | None:
    """The newest point of the portfolio's equity file (the bot appends one every 15 market minutes)."""
    try:
        lines = (logs / EQUITY_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        body, _ = _json_line(line)
        if isinstance(body, dict) and isinstance(body.get("ts_ms"), int) and isinstance(body.get("equity_quote"),
                                                                                       int | float):
            return body["ts_ms"], float(body["equity_quote"])
    return None


def _json_line(line: str) -> tuple[Any, str | None]:
    try:
        return json.loads(line), None
    except ValueError as exc:
        return None, str(exc)


def closed_nets(logs: Path) -> list[tuple[int, float]]:
    """(exit ms, net P&L) of every automatic closed trade in the ledger."""
    out: list[tuple[int, float]] = []
    try:
        raw_lines = (logs / AUTO_FILE).read_bytes().splitlines()
    except OSError:
        return out
    for raw in raw_lines:
        try:
            entry = LedgerEntry.model_validate_json(raw)
        except ValueError:
            continue
        net = entry.data.get("net_quote")
        if entry.kind == "trade" and isinstance(net, int | float):
            out.append((int(entry.data.get("exit_ms", entry.ts_ms)), float(net)))
    return out


def money_summary(root: Path, starting_quote: float | None) -> dict[str, Any]:
    """Equity now, P&L today (realized, UTC day of the bot's last equity point) and since the start."""
    point = last_equity(root / "logs")
    nets = closed_nets(root / "logs")
    now_ms = point[0] if point else max((t for t, _ in nets), default=0)
    today = now_ms // DAY_MS * DAY_MS
    equity = point[1] if point else None
    return {"equity_quote": equity, "at_ms": point[0] if point else None,
            "today_realized_quote": sum(n for t, n in nets if t >= today),
            "today_trades": sum(t >= today for t, _ in nets),
            "total_realized_quote": sum(n for _, n in nets), "trades": len(nets),
            "total_quote": equity - starting_quote if equity is not None and starting_quote else None,
            "starting_quote": starting_quote}


def last_prices(root: Path) -> dict[str, float]:
    """The last fill price per symbol in the ledger: what the step of each quantity is judged by."""
    fills, _ = ledger_fills(root / "logs")
    return {f.symbol: f.price_quote for f in fills if f.price_quote > 0}


def step_for(symbol: str, prices: dict[str, float]) -> float | None:
    """The lot step the bot uses for ``symbol`` when the exchange's is unknown (about six digits of price)."""
    price = prices.get(symbol)
    return SymbolFilters.default_for_price(symbol, price, 0.0, 0.0).step_size if price else None


def heartbeat_summary(state: Path, stale_after_s: float, now_s: float) -> dict[str, Any]:
    hb, problem = read_json(state / "heartbeat.json")
    if not isinstance(hb, dict):
        return {"present": False, "problem": problem}
    epoch = hb.get("updated_at_epoch")
    age = max(0.0, now_s - float(epoch)) if isinstance(epoch, (int, float)) else None
    raw_tasks = hb.get("tasks")
    tasks: dict[str, Any] = raw_tasks if isinstance(raw_tasks, dict) else {}
    troubled = {n: t for n, t in tasks.items() if isinstance(t, dict) and t.get("state") in ("crashed", "backoff")}
    return {"present": True, "age_s": None if age is None else round(age, 1),
            "stale": age is None or age > stale_after_s, "state": hb.get("state"), "mode": hb.get("mode"),
            "pid": hb.get("pid"), "started_at": hb.get("started_at"), "updated_at": hb.get("updated_at"),
            "last_tick_at": hb.get("last_tick_at"), "troubled_tasks": troubled}


def control_summary(state: Path) -> dict[str, Any]:
    """The trading state and every hold with owner and reason, read with the bot's own schema."""
    ctl, problem = read_json(state / "control.json")
    if not isinstance(ctl, dict):
        return {"present": False, "problem": problem}
    try:
        parsed = ControlState.model_validate(ctl)
    except ValueError as exc:
        return {"present": False, "problem": f"control.json fails its schema: {str(exc).splitlines()[0]}"}
    return {"present": True, **parsed.describe()}


def collect(root: Path, stale_after_s: float) -> dict[str, Any]:
    """Everything the files say, and the verdict: healthy, down or hung."""
    state, now = root / "state", time.time()
    bot = find_bot(root)
    hb = heartbeat_summary(state, stale_after_s, now)
    hold, _ = read_json(root / HOLD_FILE)
    hold_present = (root / HOLD_FILE).exists()
    if bot is None:
        verdict = "down"
    elif bot.stopped or hb.get("stale", True):
        verdict = "hung"
    else:
        verdict = "healthy"
    wallet, _ = read_json(state / "paper_wallet.json")
    starting = wallet.get("starting") if isinstance(wallet, dict) else None
    quote = wallet.get("quote", "USDT") if isinstance(wallet, dict) else "USDT"
    start = starting.get(quote) if isinstance(starting, dict) else None
    return {"root": str(root), "verdict": verdict, "process": bot.as_dict() if bot else None,
            "quote": quote, "money": money_summary(root, float(start) if isinstance(start, int | float) else None),
            "prices": last_prices(root),
            "hold": (hold if isinstance(hold, dict) else {"present": True}) if hold_present else None,
            "heartbeat": hb, "control": control_summary(state),
            "strategies": strategy_summary(root / "strategies"), "positions": positions_summary(root)}


def _process_line(report: dict[str, Any]) -> str:
    proc = report["process"]
    if proc is None:
        line = "not running"
        if report["hold"]:
            line += f" (held down by {HOLD_FILE}: started again only after it is removed)"
        return line
    return f"{'STOPPED (SIGSTOP)' if proc['stopped'] else 'alive'} pid {proc['pid']}"


def _heartbeat_line(hb: dict[str, Any]) -> str:
    if not hb.get("present"):
        return "none" + (f" ({hb['problem']})" if hb.get("problem") else "")
    age = "unknown age" if hb["age_s"] is None else f"{hb['age_s']:.1f}s ago"
    line = f"{age}{' (STALE)' if hb['stale'] else ''}, state {hb['state']}, mode {hb['mode']}, since {hb['started_at']}"
    if hb["troubled_tasks"]:
        line += " | troubled: " + ", ".join(f"{n} {t.get('state')}" for n, t in hb["troubled_tasks"].items())
    return line


def _control_line(ctl: dict[str, Any]) -> str:
    if not ctl.get("present"):
        return "no control.json yet" + (f" ({ctl['problem']})" if ctl.get("problem") else "")
    line = ctl["trading_state"] + (" (stopping)" if ctl.get("stop_requested") else "")
    live = f"YES by {ctl.get('live_confirmed_by')} at {ctl.get('live_confirmed_at')}" if ctl.get("live_confirmed") \
        else "no"
    return line + f" | live confirmed: {live}"


def _hold_lines(ctl: dict[str, Any]) -> list[str]:
    return [f"hold        {h['kind']} by {h['by']} since {h['since']}: {h['reason'] or 'no reason given'} "
            f"(lifted by {h['released_by']})" for h in ctl.get("holds", [])]


def _money_line(report: dict[str, Any]) -> str:
    m, quote = report["money"], report["quote"]
    if m["equity_quote"] is None:
        return f"no equity recorded yet | realized {signed_money(m['total_realized_quote'], quote)}"
    line = f"equity {money(m['equity_quote'], quote)} at {when(m['at_ms'])} UTC"
    line += f" | today {signed_money(m['today_realized_quote'], quote)} ({m['today_trades']} trades)"
    if m["total_quote"] is not None:
        line += f" | total {signed_money(m['total_quote'], quote)} since {money(m['starting_quote'], quote)}"
    return line + f" | realized {signed_money(m['total_realized_quote'], quote)} over {m['trades']} trades"


def _qty(symbol: str, value: float, prices: dict[str, float]) -> str:
    return qty(value, step_for(symbol, prices))


def render(report: dict[str, Any]) -> str:
    strat, pos, prices = report["strategies"], report["positions"], report["prices"]
    counts = " ".join(f"{k}={v}" for k, v in strat["folders"].items())
    if strat["statuses"]:
        counts += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(strat["statuses"].items())) + ")"
    positions = ", ".join(f"{venue}: " + " ".join(f"{r['symbol']}{'(perp)' if r['market'] == 'perp' else ''} "
                                                  f"{'+' if r['qty_base'] > 0 else ''}"
                                                  f"{_qty(r['symbol'], r['qty_base'], prices)}" for r in rows)
                          for venue, rows in pos["open"].items()) or f"none open ({pos['fills']} fills in the ledger)"
    if pos["unreadable_ledger_lines"]:
        positions += f" | {pos['unreadable_ledger_lines']} unreadable ledger line(s)"
    if pos["paper_balances"]:
        held = {a: (money(q, "") if a == report["quote"] else _qty(f"{a}/{report['quote']}", q, prices))
                for a, q in pos["paper_balances"].items() if isinstance(q, int | float)}
        positions += " | paper wallet " + ", ".join(f"{a} {q}" for a, q in held.items()
                                                     if q.strip("0.,") not in ("", "-"))
    lines = [f"AI Trading Lab at {report['root']}",
             f"process     {_process_line(report)}",
             f"heartbeat   {_heartbeat_line(report['heartbeat'])}",
             f"control     {_control_line(report['control'])}",
             *_hold_lines(report["control"]),
             f"money       {_money_line(report)}",
             f"strategies  {counts}" + (f" | unreadable: {len(strat['unreadable'])}" if strat["unreadable"] else ""),
             f"positions   {positions}",
             f"verdict     {report['verdict'].upper()}"]
    live = report.get("live")
    if live is not None:
        lines.append(f"live answer {live.get('message', live.get('error'))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = make_parser(__doc__)
    p.add_argument("--stale-after", type=float, default=60.0, metavar="S",
                   help="a heartbeat older than S seconds means the bot is hung (default 60)")
    p.add_argument("--live", action="store_true", help="also ask the running bot for its status (inbox)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="wait this long for --live (default 10)")
    args = p.parse_args(argv)

    def body() -> int:
        if args.stale_after <= 0 or args.timeout <= 0:
            raise ScriptError(2, "--stale-after and --timeout must be positive")
        report = collect(args.root.resolve(), args.stale_after)
        if args.live and report["verdict"] == "healthy":
            res = send_command(args.root.resolve(), "status", {}, args.timeout)
            report["live"] = ({"ok": res.ok, "message": res.message, "data": res.data} if res is not None
                              else {"ok": False, "error": f"no answer within {args.timeout:.0f}s"})
        emit(args.json, render(report), report)
        return {"healthy": EXIT_OK, "down": EXIT_BOT_DOWN}.get(report["verdict"], EXIT_UNHEALTHY)

    return run_script(body, lambda: args.json)


if __name__ == "__main__":
    sys.exit(main())
