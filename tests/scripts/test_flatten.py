"""stop_trading.py --flatten: closes the bot's own ledger positions through the real ccxt client.

The exchange is the loopback fake Binance (tests/fakes) with order endpoints added here; the
script runs as a subprocess while the fake serves from this test's event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import yaml

from scripts.flatten import OpenPosition, open_positions
from src.execution.runner import StrategyRunner
from src.execution.runner_state import OpenTrade, RunnerState
from src.orders.ledger import Ledger
from src.state.store import StateStore
from tests.fakes.fake_binance import FakeBinance
from tests.fakes.fake_binance_orders import FakeOrders
from tests.scripts.conftest import REPO

KEYS = {"EXCHANGE_API_KEY": "test-key-0001", "EXCHANGE_API_SECRET": "test-secret-0001"}


def _fills(root: Path) -> None:
    """Live: 0.3 BTC spot long, 2 ETH perp short, SOL bought and sold (flat); paper fills on top."""
    ledger = Ledger(root / "logs")
    for venue, symbol, market, side, qty in (("live", "BTC/USDT", "spot", "buy", 0.5),
                                             ("live", "BTC/USDT", "spot", "sell", 0.2),
                                             ("live", "ETH/USDT", "perp", "sell", 2.0),
                                             ("live", "SOL/USDT", "spot", "buy", 1.0),
                                             ("live", "SOL/USDT", "spot", "sell", 1.0),
                                             ("paper", "BTC/USDT", "spot", "buy", 7.0)):
        ledger.append(kind="fill", ts_ms=1, venue=venue, symbol=symbol, market=market, side=side, qty_base=qty,
                      price_quote=100.0)


def _live_root(tmp_path: Path, mode: str = "live") -> Path:
    root = tmp_path / "root"
    (root / "state").mkdir(parents=True)
    (root / "state" / "heartbeat.json").write_text(json.dumps({"pid": 1, "mode": mode, "updated_at_epoch": 0}))
    _fills(root)
    return root


def test_positions_come_from_the_ledger_of_the_mode(tmp_path: Path) -> None:
    root = _live_root(tmp_path)

    positions, bad = open_positions(root, "live")

    assert bad == 0
    assert positions == [OpenPosition("BTC/USDT", "spot", pytest.approx(0.3)), OpenPosition("ETH/USDT", "perp", -2.0)]
    assert open_positions(root, "paper")[0] == []  # paper positions are never sent to an exchange


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as f:
        f.balances = {"USDT": (1000.0, 0.0), "BTC": (0.25, 0.0)}  # fees took a little of the 0.3
        yield f


@pytest.fixture
def exchange(fake: FakeBinance) -> FakeOrders:
    """The strict order side: balances enforced, fees in the asset received, one-way perp positions."""
    orders = FakeOrders(fake)
    orders.positions["ETHUSDT"], orders.entry_price["ETHUSDT"] = -2.0, 100.0  # the bot's perp short
    return orders


def _config(folder: Path, base_url: str) -> Path:
    path = folder / "flatten-config.yaml"
    path.write_text(yaml.safe_dump({"mode": "live", "exchange": {"api_base_url": base_url}}))
    return path


async def _stop_flatten(root: Path, config: Path, env_extra: dict[str, str]) -> tuple[int, dict]:
    env = {**os.environ, **env_extra}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "scripts" / "stop_trading.py"), "--root", str(root), "--flatten", "--config",
        str(config), "--json", "--no-hold", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert out, err.decode()
    return proc.returncode or 0, json.loads(out)


def _orders(fake: FakeBinance, path: str) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in parse_qs(r.body).items()} for r in fake.requests
            if r.method == "POST" and r.path == path]


async def test_flatten_sends_closing_orders(fake: FakeBinance, exchange: FakeOrders, tmp_path: Path) -> None:
    root = _live_root(tmp_path)

    code, out = await _stop_flatten(root, _config(tmp_path, fake.base_url), KEYS)

    assert code == 0, out
    assert out["how"] == "not-running"
    assert out["flatten"]["ok"] is True
    spot, perp = _orders(fake, "/api/v3/order"), _orders(fake, "/fapi/v1/order")
    assert len(spot) == 1
    assert spot[0]["symbol"] == "BTCUSDT"
    assert spot[0]["side"] == "SELL"
    assert spot[0]["type"] == "MARKET"
    assert float(spot[0]["quantity"]) == pytest.approx(0.25)
    assert len(perp) == 1
    assert perp[0]["symbol"] == "ETHUSDT"
    assert perp[0]["side"] == "BUY"
    assert float(perp[0]["quantity"]) == 2.0
    assert perp[0]["reduceOnly"] == "true"
    assert spot[0]["newClientOrderId"].startswith("atl-")
    assert perp[0]["newClientOrderId"].startswith("atl-")
    assert all(o["ok"] for o in out["flatten"]["orders"])
    assert exchange.positions == {}


async def test_flatten_records_what_it_sold_and_a_second_run_sells_nothing(
        fake: FakeBinance, exchange: FakeOrders, tmp_path: Path) -> None:
    fake.balances["BTC"] = (0.3, 0.0)  # the wallet holds what the ledger says
    root = _live_root(tmp_path)
    config = _config(tmp_path, fake.base_url)

    first = await _stop_flatten(root, config, KEYS)
    second = await _stop_flatten(root, config, KEYS)

    assert first[0] == 0, json.dumps(second[1])
    assert second[0] == 0, json.dumps(second[1])
    assert len(_orders(fake, "/api/v3/order")) == 1
    assert len(_orders(fake, "/fapi/v1/order")) == 1
    assert "no open exchange positions" in second[1]["flatten"]["message"]
    lines = [e for e in Ledger(root / "logs").entries() if e.kind == "fill" and e.strategy_id == "flatten"]
    assert sorted((e.symbol, e.side) for e in lines) == [("BTC/USDT", "sell"), ("ETH/USDT", "buy")]
    assert all(e.venue == "live" and e.manual for e in lines)
    assert len(list((root / "state" / "orders_live").glob("*.json"))) == 2  # the intents, as for any order


async def test_flatten_never_sells_the_persons_own_coins(fake: FakeBinance, exchange: FakeOrders,
                                                         tmp_path: Path) -> None:
    fake.balances["BTC"] = (60.0, 0.0)  # the person's 59.7 BTC beside the bot's 0.3
    root = _live_root(tmp_path)
    config = _config(tmp_path, fake.base_url)

    await _stop_flatten(root, config, KEYS)
    await _stop_flatten(root, config, KEYS)

    (sold,) = _orders(fake, "/api/v3/order")
    assert float(sold["quantity"]) == pytest.approx(0.3)
    assert fake.balances["BTC"][0] == pytest.approx(59.7)


async def test_flatten_closes_the_runners_trades_so_a_restart_does_not_sell_again(
        fake: FakeBinance, exchange: FakeOrders, tmp_path: Path) -> None:
    root = _live_root(tmp_path)
    trade = OpenTrade(strategy_id="s1", symbol="BTC/USDT", market="spot", side=1, qty0_base=0.3, remaining_base=0.3,
                      entry_price_quote=90.0, entry_bar_ts=0, entry_ms=0, tracker_state=[], venue="live")
    StateStore(root / "state").save(StrategyRunner.FILE, RunnerState(trades={"s1|BTC/USDT": trade}))

    code, out = await _stop_flatten(root, _config(tmp_path, fake.base_url), KEYS)

    assert code == 0
    assert out["flatten"]["runner_trades_closed"] == ["s1|BTC/USDT"]
    assert StateStore(root / "state").load(StrategyRunner.FILE, RunnerState).trades == {}
    (closed,) = [e for e in Ledger(root / "logs").entries() if e.kind == "trade"]
    assert closed.strategy_id == "s1"
    assert closed.data["reason"] == "flatten"


async def test_one_refused_order_is_reported_and_the_rest_still_close(fake: FakeBinance, exchange: FakeOrders,
                                                                      tmp_path: Path) -> None:
    fake.fault("/fapi/v1/order", status=400, body='{"code":-2019,"msg":"Margin is insufficient."}')
    root = _live_root(tmp_path)

    code, out = await _stop_flatten(root, _config(tmp_path, fake.base_url), KEYS)

    assert code == 1
    flat = out["flatten"]
    assert flat["ok"] is False
    assert "FAILED: ETH/USDT" in flat["message"]
    assert len(_orders(fake, "/api/v3/order")) == 1
    assert len(_orders(fake, "/fapi/v1/order")) == 1  # sent once, never blindly retried


async def test_live_without_keys_sends_nothing(fake: FakeBinance, tmp_path: Path) -> None:
    root = _live_root(tmp_path)

    code, out = await _stop_flatten(root, _config(tmp_path, fake.base_url), {})

    assert code == 1
    assert "EXCHANGE_API_KEY" in out["flatten"]["message"]
    assert fake.requests == []


async def test_paper_mode_has_nothing_on_an_exchange(fake: FakeBinance, tmp_path: Path) -> None:
    root = _live_root(tmp_path, mode="paper")

    code, out = await _stop_flatten(root, _config(tmp_path, fake.base_url), KEYS)

    assert code == 0
    assert "nothing on an exchange" in out["flatten"]["message"]
    assert fake.requests == []
