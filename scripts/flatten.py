"""Close the bot's open exchange positions without the bot (the engine of ``stop_trading.py --flatten``).

This is the emergency path for a bot that is hung or gone. What to close comes from the bot's own
ledger (``logs/ledger_*.jsonl``, the source of truth for money: every live fill, in order), never
from the account's balances, so holdings that are not the bot's are never sold. Spot longs are
sold (at most the free balance of the base asset, since fees may have taken a little); perpetual
positions get a reduce-only market order, which can close but never open or flip a position.
Each order carries a deterministic client id and is sent once: a failure is reported per symbol
and the operator decides what next.

Only ``live`` and ``testnet`` have anything on an exchange; in ``replay`` and ``paper`` the
positions are the paper engine's and vanish with it.
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

from scripts.common import (  # noqa: E402
    EXIT_OK,
    REPO_ROOT,
    ScriptError,
    emit,
    ledger_fills,
    load_script_config,
    make_parser,
    net_positions,
    read_json,
    run_script,
)
from src.config import AppConfig, load_secrets  # noqa: E402
from src.orders.interface import client_order_id  # noqa: E402

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
    net = net_positions(fills, EXCHANGE_VENUES.get(mode, ()))
    return [OpenPosition(sym, market, qty) for (sym, market), qty in sorted(net.items())], bad


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
    positions, bad_lines = open_positions(root, mode)
    base = {"mode": mode, "positions": [asdict(p) for p in positions], "unreadable_ledger_lines": bad_lines}
    if not positions:
        return {**base, "ok": True, "orders": [], "message": "no open exchange positions in the bot's ledger"}
    return {**base, **asyncio.run(_send_closing_orders(cfg, mode, positions))}


async def _send_closing_orders(cfg: AppConfig, mode: str, positions: list[OpenPosition]) -> dict[str, Any]:
    from src.exchange.clients import ExchangeClients

    secrets = load_secrets(dotenv=REPO_ROOT / ".env")
    key = secrets.exchange_api_key if mode == "live" else secrets.testnet_api_key
    if not key:
        env = "EXCHANGE_API_KEY/EXCHANGE_API_SECRET" if mode == "live" else "TESTNET_API_KEY/TESTNET_API_SECRET"
        return {"ok": False, "orders": [], "message": f"{mode} mode needs {env} in the environment; nothing sent"}
    clients = ExchangeClients(cfg.exchange, secrets, mode=mode)
    orders: list[dict[str, Any]] = []
    try:
        for pos in positions:
            orders.append(await _close_one(clients, pos))
    finally:
        await clients.close()
    failed = [o["symbol"] for o in orders if not o["ok"]]
    msg = f"{len(orders) - len(failed)} of {len(orders)} position(s) closed" + (
        f"; FAILED: {', '.join(failed)} — close them by hand on the exchange" if failed else "")
    return {"ok": not failed, "orders": orders, "message": msg}


async def _close_one(clients: Any, pos: OpenPosition) -> dict[str, Any]:
    """One closing market order; any failure is reported for this symbol and the others still go."""
    from src.exchange.binance import perp_symbol

    side = "sell" if pos.qty_base > 0 else "buy"
    order: dict[str, Any] = {"symbol": pos.symbol, "market": pos.market, "side": side,
                             "qty_base": abs(pos.qty_base), "ok": False}
    cid = client_order_id("flatten", pos.symbol, int(time.time() * 1000), "flatten")
    params: dict[str, Any] = {"newClientOrderId": cid}
    try:
        if pos.market == "perp":
            client, symbol = clients.futures, perp_symbol(pos.symbol)
            if client is None:
                raise ValueError("no futures venue configured (exchange.futures_id)")
            params["reduceOnly"] = True
        else:
            if side == "buy":
                raise ValueError("the ledger shows a spot short, which cannot exist; check the ledger by hand")
            client, symbol = clients.spot, pos.symbol
            order["qty_base"] = await _sellable_qty(client, pos)
        await client.load_markets()
        placed = await client.call("create_order", symbol, "market", side, order["qty_base"], None, params,
                                   retry=False)
        order.update(ok=True, client_order_id=cid, exchange_order_id=str((placed or {}).get("id")),
                     result=f"sent ({(placed or {}).get('status') or 'status unknown'})")
    except Exception as exc:  # reported per position, never swallowed
        order["result"] = f"FAILED: {type(exc).__name__}: {exc}"
    return order


async def _sellable_qty(client: Any, pos: OpenPosition) -> float:
    """The position size, capped at the free balance of the base asset."""
    base_asset = pos.symbol.split("/")[0]
    balances = await client.fetch_balance()
    free = balances[base_asset].free if base_asset in balances else 0.0
    if free <= 0:
        raise ValueError(f"no free {base_asset} on the account to sell")
    return min(pos.qty_base, free)


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
