"""Soak: the real bot (``ai_trading_lab.py --mode testnet``) on the strict fake exchange, in accelerated
market time, with ~20% faults on the order paths and kill -9 at random moments, then restarts.

Afterwards the books must agree with the exchange: one exchange order per intent (client id), every
exchange fill in the ledger exactly once, the strategies' positions summed per symbol equal to the
exchange's net position, and the ledger's money equal to the wallet's change.

The default run is a few simulated days with a handful of kills; ``make soak`` sets ``SOAK_WALL_S``
(wall seconds of trading, e.g. 1800) for the long run. Figures are printed (run with ``-s``).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from src.orders.ledger import Ledger
from tests.soak.soak_market import MarketTime, SoakExchange

REPO = Path(__file__).resolve().parents[2]
SPEED = 5400.0  # one and a half market hours per wall second
FAULT_RATE = 0.2
WALL_S = float(os.environ.get("SOAK_WALL_S", "40"))
SEED = int(os.environ.get("SOAK_SEED", "11"))
START_USDT = 100_000.0

pytestmark = pytest.mark.soak


def write_config(folder: Path, base_url: str, anchor_ms: int) -> Path:
    body = yaml.safe_load((REPO / "config.yaml").read_text())
    body["mode"] = "testnet"
    body["brain"]["enabled"] = False
    body["telegram"] = {**body.get("telegram", {}), "enabled": False}
    body["exchange"] = {**body["exchange"], "api_base_url": base_url, "symbols": ["BTC/USDT"], "timeframes": ["1h"],
                        "testnet_venue": "spot_testnet", "testnet_clock_speed": SPEED,
                        "testnet_clock_anchor_ms": anchor_ms, "candle_poll_s": 0.2, "ticker_poll_s": 0.2,
                        "book_poll_s": 2.0, "funding_poll_s": 5.0, "order_lookup_window_s": 600.0,
                        "timeout_ms": 1500, "retry_base_s": 0.05, "retry_max_s": 0.5, "max_retry_after_s": 2.0}
    path = folder / "soak-config.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def add_live_strategies(root: Path) -> list[str]:
    """Two spot strategies on one symbol, approved for the venue (testnet trades ``live`` strategies)."""
    from ai_brain.discovery import strategy_store as store_mod
    from src.strategy.spec import family_spec

    specs = [family_spec("momentum", id="soak-mom", name="soak momentum", symbols=["BTC/USDT"], timeframe="1h",
                         fast=3, slow=8),
             family_spec("mean_reversion", id="soak-mr", name="soak mean reversion", symbols=["BTC/USDT"],
                         timeframe="1h", rsi_period=6, oversold=40, overbought=60, use_bb=False)]
    store = store_mod.StrategyStore(root / "strategies", root / "state" / "quarantine", now_ms=lambda: 0)
    for spec in specs:
        store.add(store_mod.StrategyRecord(
            id=spec.id, name=spec.name, type=spec.type, status="live", spec=spec,
            source=store_mod.Source(generator="templates", reasoning="soak", hypothesis_id=f"h-{spec.id}"),
            provenance=store_mod.Provenance(hypothesis_id=f"h-{spec.id}"),
            created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z"), actor="test", reason="soak")
    return [s.id for s in specs]


async def start_bot(root: Path, config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "TESTNET_API_KEY": "soak-key", "TESTNET_API_SECRET": "soak-secret"}
    fh = log.open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, str(REPO / "ai_trading_lab.py"), "--root", str(root), "--config", str(config),
            cwd=REPO, stdout=fh, stderr=asyncio.subprocess.STDOUT, env=env)
    finally:
        fh.close()


async def stop(proc: asyncio.subprocess.Process, sig: int) -> None:
    if proc.returncode is None:
        proc.send_signal(sig)
    await asyncio.wait_for(proc.wait(), timeout=30)


async def run_lives(root: Path, config: Path, log: Path, rng: random.Random, exchange: SoakExchange) -> int:
    """Trade for ``WALL_S`` seconds, killing the bot with SIGKILL at random moments; returns the kill count."""
    kills, deadline = 0, time.monotonic() + WALL_S
    while time.monotonic() < deadline:
        proc = await start_bot(root, config, log)
        life = rng.uniform(3.0, 9.0)
        try:
            await asyncio.wait_for(proc.wait(), timeout=min(life, max(0.1, deadline - time.monotonic())))
            tail = (await asyncio.to_thread(log.read_text))[-3000:]
            raise AssertionError(f"bot exited by itself ({proc.returncode}): {tail}")
        except TimeoutError:
            await stop(proc, signal.SIGKILL)
            kills += 1
    exchange.fault_rate = 0.0  # a last, calm life resolves whatever the kills left unknown
    proc = await start_bot(root, config, log)
    await asyncio.sleep(8.0)
    await stop(proc, signal.SIGTERM)
    return kills


def exchange_fills(exchange: SoakExchange) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for o in exchange.orders_fake.history:
        out[o.client_id] += o.executed
    return out


async def test_soak_books_match_the_exchange(tmp_path: Path) -> None:
    anchor_ms = int(time.time() * 1000)
    root = tmp_path / "root"
    clock = MarketTime(SPEED, anchor_ms)
    exchange = SoakExchange(clock, FAULT_RATE, SEED, lookup_lag_s=300.0)  # 300 market seconds of lag
    async with exchange:
        config = write_config(tmp_path, exchange.base_url, anchor_ms)
        sids = add_live_strategies(root)
        kills = await run_lives(root, config, tmp_path / "bot.log", random.Random(SEED), exchange)
    fake = exchange.orders_fake
    lines = [e for e in Ledger(root / "logs").entries() if e.kind == "fill" and e.venue == "testnet"]
    wall = {a: exchange.balances.get(a, (0.0, 0.0))[0] for a in ("BTC", "USDT")}
    print(f"\nsoak: {SPEED:.0f}x for {WALL_S:.0f} wall s ({WALL_S * SPEED / 86400:.1f} market days), kills={kills}, "
          f"orders={len(fake.history)}, posts={fake.posts()}, fills={sum(len(o.fills) for o in fake.history)}, "
          f"ledger fills={len(lines)}, faults={dict(exchange.injected)}, -1021={exchange.recv_window_rejects}")

    cids = [o.client_id for o in fake.history]
    assert {c: cids.count(c) for c in cids if cids.count(c) > 1} == {}, "one exchange order per intent"
    assert fake.duplicates == {}, "no client id was re-sent while its order was open"
    assert len({e.fill_id for e in lines}) == len(lines), "every fill booked once"
    booked: dict[str, float] = defaultdict(float)
    for e in lines:
        booked[e.client_order_id] += e.qty_base
    assert {c: round(q, 8) for c, q in booked.items() if q} == \
        {c: round(q, 8) for c, q in exchange_fills(exchange).items() if q}, "no orphan fills"
    per_strategy: dict[str, float] = defaultdict(float)
    for e in lines:
        per_strategy[e.strategy_id or ""] += e.deltas.get("BTC", 0.0)
    assert set(per_strategy) <= set(sids)
    assert sum(per_strategy.values()) == pytest.approx(wall["BTC"], abs=1e-9), "strategies' positions = net"
    assert sum(e.deltas.get("USDT", 0.0) for e in lines) == pytest.approx(wall["USDT"] - START_USDT, abs=1e-6)
    assert fake.history, "the soak traded"
