"""/forceexit against the real trading loop: the real python-telegram-bot client, the fake Bot API,
the real runner, router, paper venue and ledger. One strategy's close leaves the others' positions;
``all`` closes every one without the emergency stop's halt."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from src.market.cache import MarketCache
from tests.execution.conftest import HOUR_MS, candle
from tests.execution.test_books import CAPS, _open_perp
from tests.rig import add_ex
from tests.telegram.conftest import ADMIN, CockpitFactory, Harness

# the cockpit harness runs on the wall clock: the candles end now, so no guard sees stale data
T0 = (int(time.time() * 1000) // HOUR_MS - 60) * HOUR_MS


def _wire_execution(h: Harness) -> None:
    cache = MarketCache(h.ctx.config.replay.timeframe)
    for k in range(60):
        cache.series("BTC/USDT").append(T0 + k * HOUR_MS, 100.0, 101.0, 99.0, 100.0, 1e6)
    h.ctx.services["market_cache"] = cache
    ex = add_ex(h.ctx, h.supervisor)
    ex.paper.on_event(candle(100.0, T0 + 59 * HOUR_MS, volume=1e6))


def code_of(text: str) -> str:
    return text.rsplit("/confirm ", 1)[1].split()[0]


async def _two_strategies(cockpit_factory: CockpitFactory) -> Harness:
    h = await cockpit_factory(config={"risk": CAPS}, before_start=_wire_execution)
    ex = SimpleNamespace(router=h.ctx.services["router"], runner=h.ctx.services["runner"])
    await _open_perp(ex, "revert", "sell", 5.0)
    await _open_perp(ex, "momo", "buy", 8.0)
    return h


async def test_forceexit_one_strategy_closes_only_its_position(cockpit_factory: CockpitFactory) -> None:
    h = await _two_strategies(cockpit_factory)
    runner = h.ctx.services["runner"]
    ask = await h.ask(ADMIN, "/forceexit momo")
    assert "Close momo at market?" in ask.text
    assert set(runner.state.trades) == {"revert|BTC/USDT", "momo|BTC/USDT"}  # nothing before the code
    done = await h.ask(ADMIN, f"/confirm {code_of(ask.text)}")
    assert done.text.startswith("momo: close sent")
    assert "BTC/USDT sell 8" in done.text
    assert set(runner.state.trades) == {"revert|BTC/USDT"}
    assert runner.state.trades["revert|BTC/USDT"].remaining_base == pytest.approx(5.0)
    assert h.ctx.services["portfolio"].closed_trades("momo")[-1]["reason"] == "forceexit"


async def test_forceexit_all_closes_everything_without_a_halt(cockpit_factory: CockpitFactory) -> None:
    h = await _two_strategies(cockpit_factory)
    ask = await h.ask(ADMIN, "/forceexit all")
    assert "HALTS" not in ask.text
    assert "entries stay allowed" in ask.text
    done = await h.ask(ADMIN, f"/confirm {code_of(ask.text)}")
    assert "entries stay allowed" in done.text
    assert h.ctx.services["runner"].state.trades == {}
    assert h.control.state.entries_allowed
    assert not h.control.has_hold("emergency_stop")
