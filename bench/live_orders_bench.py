"""Benchmark: what crash safety costs per live order, through the real ccxt client on a loopback fake.

Peers, timed in one run, one after another, against the same fake Binance (tests/fakes):

* **raw ccxt** — ``ExchangeClient.call("create_order", ...)``: the adapter alone, nothing persisted;
* **LiveVenue.submit** — our path: exchange filters, intent written (fsync) before the send, the
  send, the answer written (fsync), the fill appended to the ledger (fsync), events published;
* **LiveVenue.submit, 500 after accept** — the exchange accepts, answers 500; we look the order up
  by client id and adopt it (one extra round trip, no duplicate).

Latencies are per order, p50 and p99 in milliseconds, plus the ratio ours / raw at p50.

    python bench/live_orders_bench.py [--orders 300] [--json] [--state-parent /dev/shm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from src.exchange.binance import ExchangeClient, build_exchange
from src.execution.live_ccxt import LiveSettings, LiveVenue
from src.orders.interface import OrderIntent, client_order_id
from src.orders.ledger import Ledger
from src.orders.live_ledger import LiveFillRecorder
from src.orders.order_store import OrderStore
from src.state.store import StateStore
from tests.fakes.fake_binance import FakeBinance
from tests.fakes.fake_binance_orders import FakeOrders


def _intent(run: str, i: int) -> OrderIntent:
    return OrderIntent(client_order_id=client_order_id(run, "BTC/USDT", 1, "entry", i), strategy_id=run,
                       symbol="BTC/USDT", side="buy", qty_base=0.001, decision_ts_ms=1)


def _stats(samples: list[float]) -> dict[str, float]:
    arr = np.array(samples) * 1000.0
    return {"p50_ms": round(float(np.percentile(arr, 50)), 3), "p99_ms": round(float(np.percentile(arr, 99)), 3)}


async def _raw(client: ExchangeClient, n: int, run: str = "raw") -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        await client.call("create_order", "BTC/USDT", "market", "buy", 0.001, None,
                          {"newClientOrderId": _intent(run, i).client_order_id}, retry=False)
        out.append(time.perf_counter() - t)
    return out


async def _ours(venue: LiveVenue, run: str, n: int, orders: FakeOrders | None = None) -> list[float]:
    out = []
    for i in range(n):
        if orders is not None:
            orders.after_accept(status=500)
        t = time.perf_counter()
        rec = await venue.submit(_intent(run, i))
        out.append(time.perf_counter() - t)
        assert rec.status == "filled", rec.reason
    return out


async def main(n: int, state_parent: str | None = None) -> dict[str, object]:
    async with FakeBinance() as fake:
        fake.tickers["BTCUSDT"] = {"lastPrice": "50000"}
        fake.balances = {"USDT": (1e12, 0.0)}
        orders = FakeOrders(fake)
        client = ExchangeClient(build_exchange("binance", api_base_url=fake.base_url, api_key="k", secret="s"))
        try:
            await client.load_markets()
            with tempfile.TemporaryDirectory(dir=state_parent) as root:
                store = OrderStore(StateStore(Path(root) / "state"), now_ms=lambda: 1)
                venue = LiveVenue(client, None, store, publish=lambda _ev: None, now_ms=lambda: 1,
                                  settings=LiveSettings(resend_backoff_s=0.0), ref_price=lambda _s: 50_000.0,
                                  recorder=LiveFillRecorder(Ledger(Path(root) / "logs")))
                await _raw(client, 5, run="warm-up")
                raw = _stats(await _raw(client, n))
                ours = _stats(await _ours(venue, "ours", n))
                faulty = _stats(await _ours(venue, "fault", max(10, n // 5), orders))
            dupes = sum(orders.duplicates.values())
        finally:
            await client.close()
    return {"orders": n, "raw_ccxt": raw, "live_venue": ours, "live_venue_500_after_accept": faulty,
            "ratio_p50_ours_over_raw": round(ours["p50_ms"] / raw["p50_ms"], 2), "duplicates": dupes}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=300)
    p.add_argument("--json", action="store_true")
    p.add_argument("--state-parent", help="where the state/ledger temp folder goes (e.g. a tmpfs, to time "
                                          "everything but the disk)")
    args = p.parse_args()
    logging.disable(logging.WARNING)  # the 500-after-accept run logs one warning per order by design
    result = asyncio.run(main(args.orders, args.state_parent))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:32s} {value}")
