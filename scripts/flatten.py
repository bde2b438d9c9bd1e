"""Close the bot's open positions through the exchange, without the bot (used by stop_trading --flatten).

This is the emergency path for a bot that is hung or gone: the positions come from the bot's own
files (``state/positions.json``), never from the account's balances, so holdings that are not the
bot's are never sold. Spot longs are sold (at most the free balance of the base asset); perpetual
positions get a reduce-only market order, which can close but never open or flip a position.
Each order carries a deterministic client id, and nothing is retried blindly: a failed order is
reported and the operator decides.

Only ``live`` and ``testnet`` have anything on an exchange; in ``replay`` and ``paper`` the
positions are the paper engine's and vanish with it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scripts.common import REPO_ROOT, ScriptError, load_script_config, read_json
from src.config import AppConfig, load_secrets
from src.execution.interface import client_order_id

POSITIONS_FILE = "positions.json"
EXCHANGE_MODES = ("live", "testnet")


@dataclass(frozen=True)
class OpenPosition:
    """One position to close: ``qty_base`` is signed (+ long, - short)."""

    symbol: str
    qty_base: float
    market: str  # "spot" | "perp"


def _entries(body: Any) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(body, dict) and isinstance(body.get("positions"), (list, dict)):
        body = body["positions"]
    if isinstance(body, list):
        return [(str(p.get("symbol", "")), p) for p in body if isinstance(p, dict)]
    if isinstance(body, dict):
        return [(str(p.get("symbol", k)), p) for k, p in body.items() if isinstance(p, dict)]
    raise ValueError("expected a list of positions, {'positions': [...]} or a map of symbol to position")


def _signed_qty(p: dict[str, Any]) -> float:
    raw = next((p[k] for k in ("qty_base", "qty", "amount", "size") if k in p), None)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ValueError(f"no numeric qty_base in {p!r}")
    side = str(p.get("side", "long")).lower()
    if side not in ("long", "short", "buy", "sell"):
        raise ValueError(f"unknown side {side!r}")
    return -abs(float(raw)) if side in ("short", "sell") else float(raw)


def parse_positions(body: Any) -> list[OpenPosition]:
    """Open positions from the bot's positions file; raises ValueError naming what it cannot read."""
    out: list[OpenPosition] = []
    for symbol, p in _entries(body):
        if not symbol or str(p.get("status", "open")).lower() == "closed":
            continue
        qty = _signed_qty(p)
        if qty == 0:
            continue
        market = str(p.get("market", "perp" if ":" in symbol else "spot"))
        if market not in ("spot", "perp"):
            raise ValueError(f"{symbol}: unknown market {market!r}")
        out.append(OpenPosition(symbol, qty, market))
    return out


def resolve_mode(root: Path, cfg: AppConfig) -> str:
    """The mode the bot last ran in (its heartbeat, which includes a --mode override), else config."""
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
    body, problem = read_json(root / "state" / POSITIONS_FILE)
    if problem:
        return {"ok": False, "mode": mode, "message": f"cannot read positions: {problem}", "orders": []}
    try:
        positions = parse_positions(body) if body is not None else []
    except ValueError as exc:
        return {"ok": False, "mode": mode, "message": f"state/{POSITIONS_FILE}: {exc}; nothing sent", "orders": []}
    base = {"mode": mode, "positions": [asdict(p) for p in positions]}
    if mode not in EXCHANGE_MODES:
        return {**base, "ok": True, "orders": [],
                "message": f"{mode} mode: positions are paper positions, there is nothing on an exchange to close"}
    if not positions:
        return {**base, "ok": True, "orders": [], "message": "no open positions in the bot's files"}
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
    failed = [o for o in orders if not o["ok"]]
    msg = f"{len(orders) - len(failed)} of {len(orders)} positions closed" + (
        f"; FAILED: {', '.join(o['symbol'] for o in failed)} — close them by hand" if failed else "")
    return {"ok": not failed, "orders": orders, "message": msg}


async def _close_one(clients: Any, pos: OpenPosition) -> dict[str, Any]:
    side = "sell" if pos.qty_base > 0 else "buy"
    order = {"symbol": pos.symbol, "market": pos.market, "side": side, "qty_base": abs(pos.qty_base), "ok": False}
    cid = client_order_id("flatten", pos.symbol, int(time.time() * 1000), "flatten")
    try:
        if pos.market == "perp":
            client = clients.futures
            if client is None:
                raise ValueError("no futures venue configured (exchange.futures_id)")
            params: dict[str, Any] = {"reduceOnly": True, "clientOrderId": cid}
        else:
            if side == "buy":
                raise ValueError("a spot short cannot exist; check the positions file by hand")
            client = clients.spot
            params = {"clientOrderId": cid}
            order["qty_base"] = await _sellable_qty(client, pos)
        await client.load_markets()
        placed = await client.call("create_order", pos.symbol, "market", side, order["qty_base"], None, params,
                                   retry=False)
        order.update(ok=True, client_order_id=cid, exchange_order_id=str((placed or {}).get("id")),
                     result=f"sent ({(placed or {}).get('status', 'unknown status')})")
    except Exception as exc:  # every failure is reported per position; the others still get closed
        order["result"] = f"FAILED: {type(exc).__name__}: {exc}"
    return order


async def _sellable_qty(client: Any, pos: OpenPosition) -> float:
    """The position size, capped at the free balance of the base asset (fees may have eaten a little)."""
    base_asset = pos.symbol.split("/")[0]
    balances = await client.fetch_balance()
    free = balances[base_asset].free if base_asset in balances else 0.0
    if free <= 0:
        raise ValueError(f"no free {base_asset} on the account to sell")
    return min(pos.qty_base, free)
