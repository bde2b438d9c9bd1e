"""Close the bot's open exchange positions without the bot (the engine of ``stop_trading.py --flatten``).

This is the emergency path for a bot that is hung or gone. What to close comes from the bot's own
ledger (``logs/ledger_*.jsonl``, the source of truth for money: every live fill, in order), never
from the account's balances, so holdings that are not the bot's are never sold: a spot long is
what the bot's fills delivered (their base-asset deltas, net of fees taken in the base asset),
capped at the free balance; a perpetual position gets a reduce-only market order, which can close
but never open or flip a position.

Orders go through the same live venue as the bot's (:class:`~src.execution.live_ccxt.LiveVenue`):
the intent is written to ``state/orders_<mode>/`` before it is sent, a lost answer is resolved by
lookups instead of a re-send, and every fill becomes a ledger line like any order's. So a second
run finds the positions closed and sells nothing; the client id is derived from the ledger's last
line, so a second run after an unresolved first one looks the order up instead of sending again.
The runner's open trades on the flattened symbols are closed in ``state/runner.json`` (with a
trade line in the ledger), so a restart does not sell them once more.

Only one process may write the bot's state: with the bot running this refuses (stop it with
``stop_trading.py --flatten``, which stops the process first). Only ``live`` and ``testnet`` have
anything on an exchange; in ``replay`` and ``paper`` the positions are the paper engine's.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    import _bootstrap  # noqa: F401  (repo root importable when run as a file)

from scripts.common import (
    EXIT_OK,
    REPO_ROOT,
    ScriptError,
    emit,
    find_bot,
    ledger_fills,
    load_script_config,
    make_parser,
    read_json,
    run_script,
)
from src.config import AppConfig, load_secrets
from src.orders.interface import OrderIntent, OrderRecord, client_order_id
from src.orders.ledger import LedgerEntry

QTY_EPS = 1e-12
EXCHANGE_VENUES: dict[str, tuple[str, ...]] = {"live": ("live",), "testnet": ("testnet", "live")}


@dataclass(frozen=True)
class OpenPosition:
    """One position to close: ``qty_base`` is signed (+ long, - short)."""

    symbol: str
    market: str  # "spot" | "perp"
    qty_base: float


def open_positions(root: Path, mode: str) -> tuple[list[OpenPosition], int]:
    """The bot's open exchange positions in ``mode`` from its ledger, and the unreadable line count."""
    fills, bad = ledger_fills(root / "logs")
    net = held_positions(fills, EXCHANGE_VENUES.get(mode, ()))
    return [OpenPosition(sym, market, qty) for (sym, market), qty in sorted(net.items())], bad


def held_positions(fills: list[LedgerEntry], venues: tuple[str, ...]) -> dict[tuple[str, str], float]:
    """Signed quantity per ``(symbol, market)``: spot is what the fills delivered in the base asset
    (``deltas``, so a buy's fee taken in base is not counted as held), perps the net filled quantity."""
    net: dict[tuple[str, str], float] = {}
    for e in fills:
        if e.venue not in venues:
            continue
        signed = e.qty_base if e.side == "buy" else -e.qty_base
        if e.market == "spot" and e.deltas:
            signed = e.deltas.get(e.symbol.split("/")[0], signed)
        net[(e.symbol, e.market)] = net.get((e.symbol, e.market), 0.0) + signed
    return {k: q for k, q in net.items() if abs(q) > QTY_EPS}


def last_seq(root: Path) -> int:
    fills, _ = ledger_fills(root / "logs")
    return fills[-1].seq if fills else 0


def resolve_mode(root: Path, cfg: AppConfig) -> str:
    """The mode the bot last ran in (its heartbeat, which includes a --mode override), else the config's."""
    hb, _ = read_json(root / "state" / "heartbeat.json")
    mode = hb.get("mode") if isinstance(hb, dict) else None
    return mode if mode in ("replay", "paper", "testnet", "live") else cfg.mode


def flatten_positions(root: Path, config_path: Path) -> dict[str, Any]:
    """Decide and, in live/testnet, send the closing orders; returns a report (``ok``, ``message``, ``orders``)."""
    try:
        cfg = load_script_config(config_path)
    except ScriptError as exc:
        return {"ok": False, "message": exc.message, "orders": []}
    mode = resolve_mode(root, cfg)
    if mode not in EXCHANGE_VENUES:
        return {"ok": True, "mode": mode, "positions": [], "orders": [],
                "message": f"{mode} mode: positions are paper positions, there is nothing on an exchange to close"}
    bot = find_bot(root)
    if bot is not None:
        return {"ok": False, "mode": mode, "orders": [],
                "message": f"the bot is running (pid {bot.pid}): stop it with stop_trading.py --flatten, so only "
                           "one process writes its state; nothing sent"}
    return asyncio.run(_flatten(root, cfg, mode))


async def _flatten(root: Path, cfg: AppConfig, mode: str) -> dict[str, Any]:
    from src.exchange.clients import ExchangeClients

    secrets = load_secrets(dotenv=REPO_ROOT / ".env")
    key = secrets.exchange_api_key if mode == "live" else secrets.testnet_api_key
    if not key:
        env = "EXCHANGE_API_KEY/EXCHANGE_API_SECRET" if mode == "live" else "TESTNET_API_KEY/TESTNET_API_SECRET"
        return {"ok": False, "mode": mode, "orders": [], "message": f"{mode} mode needs {env} in the environment; "
                                                                    "nothing sent"}
    clients = ExchangeClients(cfg.exchange, secrets, mode=mode)
    try:
        venue = _venue(root, cfg, mode, clients)
        await venue.resolve_unresolved()  # an earlier run's lost answer first: its fill may close the position
        positions, bad_lines = open_positions(root, mode)
        report: dict[str, Any] = {"mode": mode, "positions": [asdict(p) for p in positions],
                                  "unreadable_ledger_lines": bad_lines}
        if not positions:
            return {**report, "ok": True, "orders": [], "message": "no open exchange positions in the bot's ledger"}
        seq = last_seq(root)
        orders = [await _close_one(venue, pos, seq) for pos in positions]
    finally:
        await clients.close()
    closed = close_runner_trades(root, [o for o in orders if o["ok"]], venue_names=("live",))
    failed = [o["symbol"] for o in orders if not o["ok"]]
    msg = f"{len(orders) - len(failed)} of {len(orders)} position(s) closed" + (
        f"; FAILED: {', '.join(failed)} — close them by hand on the exchange" if failed else "")
    return {**report, "ok": not failed, "orders": orders, "runner_trades_closed": closed, "message": msg}


def _venue(root: Path, cfg: AppConfig, mode: str, clients: Any) -> Any:
    """The bot's own live venue on its order store and ledger (the bot is not running)."""
    from src.execution.live_ccxt import LiveSettings, LiveVenue
    from src.orders.ledger import Ledger
    from src.orders.live_ledger import LiveFillRecorder
    from src.orders.order_store import OrderStore
    from src.state.store import StateStore

    def now_ms() -> int:
        return int(time.time() * 1000)

    orders = OrderStore(StateStore(root / "state"), folder=f"orders_{mode}", now_ms=now_ms)
    recorder = LiveFillRecorder(Ledger(root / "logs"), cfg.quote, venue=mode)
    recorder.catch_up(orders)
    return LiveVenue(clients.spot, clients.futures, orders, publish=lambda _e: None, now_ms=now_ms, quote=cfg.quote,
                     name=mode, recorder=recorder,
                     settings=LiveSettings(lookup_window_s=cfg.exchange.order_lookup_window_s))


def flatten_intent(pos: OpenPosition, ledger_seq: int) -> OrderIntent:
    """Deterministic per (position, ledger state): a re-run before anything changed reuses the id."""
    side = "sell" if pos.qty_base > 0 else "buy"
    key = f"{pos.symbol}|{pos.market}"
    return OrderIntent(client_order_id=client_order_id("flatten", key, ledger_seq, "flatten"),
                       strategy_id="flatten", symbol=pos.symbol, side=side, type="market",
                       qty_base=abs(pos.qty_base), purpose="flatten", reduce_only=True,
                       market=pos.market,  # type: ignore[arg-type]
                       decision_ts_ms=int(time.time() * 1000), manual=True)


async def _close_one(venue: Any, pos: OpenPosition, ledger_seq: int) -> dict[str, Any]:
    """One closing market order through the venue; a failure is reported for this symbol only."""
    intent = flatten_intent(pos, ledger_seq)
    order: dict[str, Any] = {"symbol": pos.symbol, "market": pos.market, "side": intent.side,
                             "qty_base": intent.qty_base, "client_order_id": intent.client_order_id, "ok": False}
    if pos.market == "spot" and intent.side == "buy":
        order["result"] = "FAILED: the ledger shows a spot short, which cannot exist; check the ledger by hand"
        return order
    try:
        rec: OrderRecord = await venue.submit(intent)
    except Exception as exc:  # reported per position, never swallowed
        order["result"] = f"FAILED: {type(exc).__name__}: {exc}"
        return order
    if rec.status == "rejected" and "(insufficient_funds)" in rec.reason:  # what the ledger shows is gone already
        order.update(ok=True, status="nothing_to_sell", filled_qty_base=0.0,
                     result=f"nothing left to sell ({rec.reason}); the ledger's remainder is not on the account")
        return order
    order.update(ok=rec.status == "filled", status=rec.status, filled_qty_base=rec.filled_qty_base,
                 avg_price_quote=rec.avg_price_quote, fee_quote=rec.fee_quote,
                 exchange_order_id=rec.exchange_order_id,
                 result=rec.status if rec.status == "filled" else f"FAILED: {rec.status} {rec.reason}".strip())
    return order


def close_runner_trades(root: Path, filled: list[dict[str, Any]], venue_names: tuple[str, ...]) -> list[str]:
    """Close the runner's open trades on the flattened symbols (``state/runner.json``), each with a
    trade line in the ledger, so a restarted bot does not sell them again. Returns their keys."""
    from src.execution.runner import StrategyRunner
    from src.execution.runner_state import RunnerState
    from src.orders.ledger import Ledger
    from src.state.store import StateStore

    store = StateStore(root / "state")
    state = store.load(StrategyRunner.FILE, RunnerState)
    if state is None or not filled:
        return []
    done = {(o["symbol"], o["market"]): o for o in filled}
    ledger, closed = Ledger(root / "logs"), []
    for key, trade in list(state.trades.items()):
        o = done.get((trade.symbol, trade.market))
        if o is None or trade.venue not in venue_names:
            continue
        exit_px = float(o.get("avg_price_quote") or trade.entry_price_quote)
        gross = trade.gross_quote + trade.side * trade.remaining_base * (exit_px - trade.entry_price_quote)
        now = int(time.time() * 1000)
        ledger.append(kind="trade", ts_ms=now, strategy_id=trade.strategy_id, symbol=trade.symbol,
                      market=trade.market, data={  # type: ignore[arg-type]
                          "side": "long" if trade.side > 0 else "short", "entry_bar_ts": trade.entry_bar_ts,
                          "exit_bar_ts": 0, "entry_ms": trade.entry_ms, "exit_ms": now,
                          "entry_price_quote": trade.entry_price_quote, "exit_price_quote": exit_px,
                          "qty_base": trade.qty0_base, "gross_quote": gross, "fees_quote": trade.fees_quote,
                          "funding_quote": trade.funding_quote,
                          "net_quote": gross - trade.fees_quote - trade.funding_quote, "reason": "flatten"})
        del state.trades[key]
        closed.append(key)
    if closed:
        store.save(StrategyRunner.FILE, state)
    return closed


def main(argv: list[str] | None = None) -> int:
    """Run alone, this only lists what ``stop_trading.py --flatten`` would close (it never sends)."""
    p = make_parser(__doc__ + "\nRun alone it lists the positions; stop_trading.py --flatten closes them.")
    p.add_argument("--config", type=Path, default=REPO_ROOT / "config.yaml", help="the bot's config file")
    args = p.parse_args(argv)

    def body() -> int:
        mode = resolve_mode(args.root, load_script_config(args.config))
        positions, bad = open_positions(args.root, mode)
        lines = [f"{mode}: {len(positions)} open exchange position(s) in the ledger"
                 + (f" ({bad} unreadable ledger line(s))" if bad else "")]
        lines += [f"  {p.symbol} {p.market} {p.qty_base:+.8g}" for p in positions]
        emit(args.json, "\n".join(lines), {"ok": True, "mode": mode, "unreadable_lines": bad,
                                           "positions": [asdict(p) for p in positions]})
        return EXIT_OK

    return run_script(body, lambda: args.json)


if __name__ == "__main__":
    sys.exit(main())
