"""Trade opened/closed messages: the runner's events reach the phone through the real client, rendered
by their templates, off in replay by default, and a burst is held to the hourly budget."""

from __future__ import annotations

import pytest

from src.core.events import TradeClosed, TradeOpened
from src.telegram.trade_notes import TradeThrottle, trade_messages_on
from tests.telegram.conftest import ADMIN, VIEWER, CockpitFactory

OPENED = TradeOpened("S<1>&", "BTC/USDT", "long", 0.30000000000000004, 64_123.456789, 1_780_000_000_000)
CLOSED = TradeClosed("S<1>&", "BTC/USDT", "long", 0.3, 64_000.0, 65_000.0, 295.5, 4.5, "take_profit",
                     1_780_003_600_000)


async def test_trade_messages_reach_everyone_rendered(cockpit_factory: CockpitFactory) -> None:
    h = await cockpit_factory(config={"mode": "paper"})
    before = len(h.fake.sent_to(VIEWER))
    h.ctx.bus.publish(OPENED)
    h.ctx.bus.publish(CLOSED)
    opened, closed = (await h.fake.wait_sent(before + 2, chat_id=VIEWER))[before:]
    assert opened.parse_mode == "HTML"
    assert opened.text.startswith("🟢 Opened long BTC/USDT @ 64,123.5")
    assert "S<1>&" in opened.text  # escaped on the wire, readable on the phone
    assert "0.30000000000000004" not in opened.text
    assert closed.text.startswith("✅ Closed BTC/USDT: +295.50 USDT (+1.54%)")
    assert "take_profit" in closed.text


async def test_replay_sends_no_trade_messages_by_default(cockpit_factory: CockpitFactory) -> None:
    h = await cockpit_factory()  # replay mode
    before = len(h.fake.sent_to(ADMIN))
    h.ctx.bus.publish(OPENED)
    h.ctx.bus.publish(CLOSED)
    await h.settle()  # every update so far handled: the /help answer is the only new message
    assert [m.text[:9] for m in h.fake.sent_to(ADMIN)[before:]] == ["Commands "]


async def test_a_burst_is_held_to_the_hourly_budget(cockpit_factory: CockpitFactory) -> None:
    h = await cockpit_factory(config={"mode": "paper"}, telegram={"trade_messages_per_hour": 2})
    before = len(h.fake.sent_to(ADMIN))
    for k in range(6):
        h.ctx.bus.publish(TradeClosed("S1", "BTC/USDT", "long", 1.0, 100.0, 101.0, 1.0, 0.1, "exit", k))
    await h.settle()
    trades = [m for m in h.fake.sent_to(ADMIN)[before:] if m.text.startswith("✅ Closed")]
    assert len(trades) == 2


@pytest.mark.parametrize(("mode", "setting", "on"), [("replay", None, False), ("paper", None, True),
                                                     ("live", None, True), ("replay", True, True),
                                                     ("live", False, False)])
def test_trade_messages_default_off_only_in_replay(mode: str, setting: bool | None, on: bool) -> None:
    assert trade_messages_on(mode, setting) is on


def test_the_throttle_says_how_many_it_held_back_when_the_hour_has_passed() -> None:
    now = [0.0]
    throttle = TradeThrottle(2, now=lambda: now[0])
    assert [throttle.admit() for _ in range(5)] == [(True, 0), (True, 0), (False, 0), (False, 0), (False, 0)]
    now[0] = 3600.0
    assert throttle.admit() == (True, 3)
    assert throttle.admit() == (True, 0)
    assert throttle.admit() == (False, 0)
