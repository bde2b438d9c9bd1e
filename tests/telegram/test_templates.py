"""Every message template rendered with awkward values: valid Telegram HTML, escaped, rounded, short enough."""

from __future__ import annotations

import re
from typing import Any

import pytest

from src.telegram.render import templates
from src.telegram.render.format import Message, money, pct, plain, price, qty, split_lines, when
from tests.fakes.telegram_html import TEXT_LIMIT, html_problem, visible_length

pytestmark = pytest.mark.smoke  # deploy.sh runs these before every restart

NASTY_ID = "S<1>&_x"
NASTY_NAME = "ema <cross> & friends_v2"
HUGE, TINY, NEG_NOISE = 1_234_567_890.123456, 0.000_000_012_345, -0.054720000000000005


def record(status: str) -> dict[str, Any]:
    figures = {"trades": 12, "total_return": -0.09219, "sharpe": 1.23456, "max_drawdown": -0.3212}
    return {"id": NASTY_ID, "name": NASTY_NAME, "status": status, "type": "momentum",
            "spec": {"symbols": ["BTC/USDT"], "timeframe": "1h"},
            "source": {"generator": "gen<a>", "reasoning": "word " * 2000 + "<script>&"},
            "performance": {"out_of_sample": figures, "backtest": figures, "dry_run": figures},
            "verdict": {"passed": True, "score": 0.54720000000000005}}


def trade() -> dict[str, Any]:
    return {"symbol": "ETH/<USDT>", "side": "sell", "qty": 8.6736174e-17, "price": 32.44999999999999,
            "entry": HUGE, "exit": TINY, "pnl": NEG_NOISE, "ret": -0.09219, "fees": TINY, "notional": HUGE,
            "reason": "stop<loss>&trail", "strategy_id": NASTY_ID, "ts_ms": 1_796_133_600_000}


ALL: dict[str, Message] = {
    "discovery": templates.discovery(record("dry_run")),
    "approval_request": templates.approval_request(record("awaiting_approval")),
    "trade_opened": templates.trade_opened(trade(), "USDT", tick=0.01, step=0.001),
    "trade_closed": templates.trade_closed(trade(), "USDT", tick=0.01, step=0.001),
    "alert": templates.alert("action", "positions <without> a manager & co_" * 10, "line one <b>\n" * 3000),
    "status": templates.status("paper", "paused <by> x&y", HUGE, "USDT", 3, NEG_NOISE, {"dry_run": 2},
                               ["guards: a<b"]),
    "report": templates.report(1_796_133_600_000, HUGE, "USDT",
                               {"net_quote": NEG_NOISE, "gross_quote": HUGE, "fees_quote": TINY},
                               [record("awaiting_approval"), record("live")], -0.09219, float("nan")),
}


@pytest.mark.parametrize("kind", sorted(ALL))
def test_template_is_valid_escaped_and_fits(kind: str) -> None:
    message = ALL[kind]
    parts = message.parts()
    assert "\n" not in message.title
    assert visible_length(message.title) <= 120
    for part in parts:
        assert html_problem(part) is None, (kind, html_problem(part))
        assert visible_length(part) <= TEXT_LIMIT
        assert len(part) <= TEXT_LIMIT
    text = plain(message.render())
    assert "e-1" not in text
    assert "e+" not in text
    assert "nan" not in text.lower()
    assert not re.search(r"\d\.\d{7,}", text), "float noise reached a person"
    assert "<script>" not in message.render()
    assert "<cross>" not in message.render()


def test_ids_with_html_characters_survive_as_text() -> None:
    for kind in ("discovery", "approval_request", "trade_opened", "trade_closed"):
        assert NASTY_ID in plain(ALL[kind].render()), kind
    assert NASTY_ID in plain(ALL["report"].render())


def test_long_texts_split_on_line_boundaries() -> None:
    parts = ALL["alert"].parts()
    assert len(parts) > 1
    assert "".join(parts) == ALL["alert"].render()
    assert all(p.endswith("&lt;b&gt;\n") for p in parts[:-1])  # cut after a whole line


def test_numbers_for_people() -> None:
    assert price(32.44999999999999, 0.01) == "32.45"
    assert price(HUGE, 0.01) == "1,234,567,890.12"
    assert price(TINY) == "0.000000012345"
    assert price(64_123.456789) == "64,123.5"
    assert qty(8.6736174e-17) == "0"
    assert qty(0.123456789, 0.001) == "0.123"
    assert money(HUGE, "USDT") == "1,234,567,890.12 USDT"
    assert money(NEG_NOISE, "EUR") == "-0.05 EUR"
    assert money(0.004567) == "0.00 USDT"
    assert money(float("nan")) == "n/a"
    assert pct(-0.09219) == "−9.22%"
    assert pct(0.5) == "+50.00%"
    assert pct(None) == "n/a"
    assert when(1_796_133_600_000) == "2026-12-01 14:00"
    assert when(0) == "n/a"


def test_split_of_a_single_over_long_line_keeps_words() -> None:
    parts = split_lines("word " * 3000, 500)
    assert all(len(p) <= 500 for p in parts)
    assert all(not p.startswith("ord") for p in parts)
    assert "".join(parts) == "word " * 3000
