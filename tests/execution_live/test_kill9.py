"""kill -9 of a real process placing orders (real ccxt, fake exchange here); restart: nothing lost or doubled.

Three lives of one child process on one state folder: the first is killed the moment the exchange
has *accepted* its third order (the client never hears back), the second while its fifth order's
request is on the wire *before* the exchange acted on it, the third runs to the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from src.orders.ledger import Ledger
from src.orders.order_store import OrderStore
from src.state.store import StateStore
from tests.execution_live.crash_child import crash_intent
from tests.fakes.fake_binance import FakeBinance
from tests.fakes.fake_binance_orders import FakeOrder, FakeOrders

REPO = Path(__file__).resolve().parents[2]
ORDER_PATH = "/api/v3/order"
N_ORDERS = 6


async def start_life(fake: FakeBinance, root: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.execution_live.crash_child", "--base-url", fake.base_url, "--root", str(root),
        "--orders", str(N_ORDERS), cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode if proc.returncode is not None else 0, out.decode(), err.decode()


async def life_killed_after_accept(fake: FakeBinance, orders_fake: FakeOrders, root: Path, nth: int) -> str:
    proc = await start_life(fake, root)

    async def hook(order: FakeOrder) -> None:
        if len(orders_fake.orders) == nth:
            os.kill(proc.pid, signal.SIGKILL)  # the exchange holds the order; its answer goes nowhere

    orders_fake.on_accept = hook
    code, out, err = await finish(proc)
    orders_fake.on_accept = None
    assert code == -signal.SIGKILL, f'{out}\n{err}'
    assert 'ALL DONE' not in out, f'{out}\n{err}'
    return out


async def life_killed_in_flight(fake: FakeBinance, root: Path, nth_post: int) -> str:
    fake.fault(ORDER_PATH, hang_s=1.0, after=nth_post - 1 - fake.count(ORDER_PATH, "POST"))
    proc = await start_life(fake, root)
    while fake.count(ORDER_PATH, "POST") < nth_post and proc.returncode is None:  # noqa: ASYNC110
        await asyncio.sleep(0.005)  # polls another process's progress: no event to wait on
    os.kill(proc.pid, signal.SIGKILL)  # the request is hanging before the exchange acted on it
    code, out, err = await finish(proc)
    assert code == -signal.SIGKILL, f'{out}\n{err}'
    assert 'ALL DONE' not in out, f'{out}\n{err}'
    return out


async def test_kill9_during_order_placement_then_restart(fake: FakeBinance, orders_fake: FakeOrders,
                                                         tmp_path: Path) -> None:
    first = await life_killed_after_accept(fake, orders_fake, tmp_path, nth=3)
    second = await life_killed_in_flight(fake, tmp_path, nth_post=5)
    code, out, err = await finish(await start_life(fake, tmp_path))

    assert "submitted 1 filled" in first
    assert "submitted 2" not in first
    assert second.startswith("recovered 1")
    assert "submitted 2 filled" in second
    assert code == 0, err
    assert 'ALL DONE' in out, err
    cids = [crash_intent(i).client_order_id for i in range(N_ORDERS)]
    assert [orders_fake.created(c) for c in cids] == [1] * N_ORDERS, "exactly one exchange order per intent"
    assert orders_fake.duplicates == {}, "nothing was ever sent twice"
    store = OrderStore(StateStore(tmp_path / "state"), now_ms=lambda: 0)
    lines = [e for e in Ledger(tmp_path / "logs").entries() if e.kind == "fill"]
    for i, cid in enumerate(cids):
        order = store.get(cid)
        assert order is not None
        assert order.record.status == "filled"
        assert sum(f.qty_base for f in order.fills) == pytest.approx(crash_intent(i).qty_base)
        assert sum(e.qty_base for e in lines if e.client_order_id == cid) == pytest.approx(crash_intent(i).qty_base)
    assert len({e.fill_id for e in lines}) == len(lines) == N_ORDERS
    bought = sum(crash_intent(i).qty_base for i in range(N_ORDERS))
    assert fake.balances["BTC"][0] == pytest.approx(bought * (1 - orders_fake.commission_rate))  # fee in base
    assert sum(e.deltas.get("BTC", 0.0) for e in lines) == pytest.approx(fake.balances["BTC"][0])  # fee asset read
    assert sum(e.deltas.get("USDT", 0.0) for e in lines) == pytest.approx(fake.balances["USDT"][0] - 100_000.0)
