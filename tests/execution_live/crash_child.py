"""A bot-like process for the kill -9 tests: recover, then place a fixed list of orders through the live venue.

Run as ``python -m tests.execution_live.crash_child --base-url URL --root DIR --orders N``. Every life
does exactly what start-up does in the bot (catch up the ledger, resolve unknown send outcomes,
poll open orders), then submits the same N deterministic intents; already-known ones are
recognised by client id. Prints ``submitted <i> <status>`` per order and ``ALL DONE`` at the end.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from src.exchange.binance import ExchangeClient, build_exchange
from src.exchange.retry import RetryPolicy
from src.execution.live_ccxt import LiveSettings, LiveVenue
from src.orders.interface import OrderIntent, client_order_id
from src.orders.ledger import Ledger
from src.orders.live_ledger import LiveFillRecorder
from src.orders.order_store import OrderStore
from src.state.store import StateStore, sweep_temp_files

DECISION_MS = 1_700_000_000_000


def crash_intent(i: int) -> OrderIntent:
    """The i-th order of the scripted run (same in every life)."""
    return OrderIntent(client_order_id=client_order_id("crash", "BTC/USDT", DECISION_MS, "entry", i),
                       strategy_id="crash", symbol="BTC/USDT", side="buy", qty_base=round(0.001 * (i + 1), 6),
                       decision_ts_ms=DECISION_MS)


async def main(base_url: str, root: Path, n_orders: int) -> None:
    sweep_temp_files(root / "state")
    client = ExchangeClient(build_exchange("binance", api_base_url=base_url, timeout_ms=3_000, api_key="k",
                                           secret="s"), policy=RetryPolicy(3, 0.05, 0.2, 1.0))
    try:
        orders = OrderStore(StateStore(root / "state"), now_ms=lambda: DECISION_MS)
        recorder = LiveFillRecorder(Ledger(root / "logs"))
        recorder.catch_up(orders)
        venue = LiveVenue(client, None, orders, publish=lambda _ev: None, now_ms=lambda: DECISION_MS,
                          settings=LiveSettings(resend_backoff_s=0.05), recorder=recorder)
        print(f"recovered {await venue.resolve_unresolved()}", flush=True)
        await venue.poll_active()
        for i in range(n_orders):
            rec = await venue.submit(crash_intent(i))
            print(f"submitted {i} {rec.status}", flush=True)
        print("ALL DONE", flush=True)
    finally:
        await client.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--orders", type=int, default=5)
    a = p.parse_args()
    asyncio.run(main(a.base_url, a.root, a.orders))
