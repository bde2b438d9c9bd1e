"""/status and the hourly status use the status template: HTML, rounded figures, every hold listed."""

from __future__ import annotations

from typing import Any

from src.telegram.render.status_view import status_message
from tests.fakes.telegram_html import html_problem
from tests.telegram.conftest import ADMIN, CockpitFactory, Harness
from tests.telegram.test_bot_commands import StandInPortfolio


class Portfolio(StandInPortfolio):
    def equity_quote(self, _venue: str | None = None) -> float:
        return 10_123.456000000001

    def open_positions(self) -> list[dict[str, Any]]:
        return [{"symbol": "ETH/USDT", "qty_base": 1.5, "strategy_id": "S<2>"}]


async def test_status_is_the_html_template_with_every_hold(cockpit_factory: CockpitFactory) -> None:
    def wire(h: Harness) -> None:
        h.ctx.services["portfolio"] = Portfolio()

    h = await cockpit_factory(before_start=wire)
    h.control.pause("telegram:1", "lunch <break> & coffee")
    reply = await h.ask(ADMIN, "/status")
    assert reply.parse_mode == "HTML"
    assert html_problem(reply.raw) is None
    assert reply.text.startswith("📊 replay mode · paused (exits only) · equity 10,123.46 USDT")
    assert "10,123.456" not in reply.text
    assert "⏸ hold person by telegram:1: lunch <break> & coffee" in reply.text
    assert "Open positions: 1" in reply.text


async def test_the_hourly_status_is_the_same_template(cockpit_factory: CockpitFactory) -> None:
    h = await cockpit_factory()
    before = len(h.fake.sent_to(ADMIN))
    scheduler = next(c for c, _ in h.supervisor._components if getattr(c, "name", "") == "telegram_scheduler")
    await scheduler.send_status()
    sent = (await h.fake.wait_sent(before + 1, chat_id=ADMIN))[before]
    assert sent.parse_mode == "HTML"
    assert sent.text.startswith("🕐 📊 replay mode · running")


def test_status_template_lists_holds_and_rounds() -> None:
    snap = {"control": {"trading_state": "halted", "holds": [
        {"kind": "person", "by": "telegram:1", "reason": "lunch", "since": "2026-12-01T14:00:05Z"},
        {"kind": "kill_switch", "by": "kill_switch", "reason": "drawdown 21%"}]}}
    text = status_message("paper", snap, {"testing": 2}, 9_876.5432, "USDT", 0, -12.345).render()
    assert text.startswith("📊 paper mode · HALTED · equity 9,876.54 USDT")
    assert "⏸ hold person by telegram:1: lunch (since 2026-12-01 14:00 UTC)" in text
    assert "⏸ hold kill_switch by kill_switch: drawdown 21%" in text
    assert "Today: −12.35 USDT" in text or "Today: -12.35 USDT" in text
    assert "Strategies: testing 2" in text
