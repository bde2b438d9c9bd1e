"""A scripted admin session, every command, with the Bot API calls it produced recorded and checked.

The real python-telegram-bot client talks to the fake Bot API; the portfolio is a stand-in with
fixed numbers and the ledger is the real one (``src.orders.ledger``) holding closed trades.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from src.orders.ledger import Ledger
from src.telegram.commands import COMMANDS
from tests.fakes.telegram_html import html_problem
from tests.telegram.conftest import ADMIN, CockpitFactory, Harness, registry_recorder
from tests.telegram.test_bot_commands import StandInPortfolio, write_strategy

pytestmark = pytest.mark.smoke  # deploy.sh runs these before every restart

DAY_MS = 86_400_000
NOW_MS = int(time.time() * 1000)  # the harness runs on the wall clock: "today" is today


def day(offset: int) -> str:
    return datetime.fromtimestamp((NOW_MS - offset * DAY_MS) / 1000, UTC).strftime("%Y-%m-%d")
TRADES = [("S<1>&_x", "ETH/USDT", 25.5), ("S<1>&_x", "BTC/USDT", -10.25), ("S2", "ETH/USDT", 1234.5),
          ("S2", "ETH/USDT", -0.054720000000000005)]


class Portfolio(StandInPortfolio):
    def open_positions(self) -> list[dict[str, Any]]:
        return [{"symbol": "ETH/USDT", "qty_base": 1.5, "avg_entry_quote": 3000.0, "unrealized_quote": 42.0,
                 "strategy_id": "S2", "notional_quote": 4_563.0}]


def fill_ledger(logs: Path) -> Ledger:
    ledger = Ledger(logs, fsync=False)
    for i, (sid, symbol, net) in enumerate(TRADES):
        exit_ms = NOW_MS - i * DAY_MS
        ledger.append(kind="trade", ts_ms=exit_ms, strategy_id=sid, symbol=symbol,
                      data={"side": "long", "net_quote": net, "exit_ms": exit_ms, "entry_price_quote": 3012.345678,
                            "exit_price_quote": 3020.1, "qty_base": 0.30000000000000004, "reason": "exit_signal"})
    return ledger


async def test_scripted_admin_session(cockpit_factory: CockpitFactory) -> None:
    def wire(h: Harness) -> None:
        h.ctx.services["portfolio"] = Portfolio()
        h.ctx.services["ledger"] = fill_ledger(h.ctx.paths.logs)
        for name in ("approve", "reject", "close_position", "close_all", "emergency_stop"):
            registry_recorder(h, name)

    h = await cockpit_factory(before_start=wire)
    write_strategy(h.ctx.paths.root, "S1", "awaiting_approval")
    script = ["/help", "/status", "/health", "/positions", "/report", "/balance", "/pnl week", "/daily", "/weekly",
              "/monthly", "/performance", "/trades 3", "/analytics auto", "/strategies", "/strategy S1",
              "/approve S1", "/reject S1 chop kills it", "/chart equity", "/chart drawdown", "/chart daily",
              "/pause", "/resume", "/release kill_switch", "/forceexit S2", "CONFIRM", "/forceexit all", "CONFIRM",
              "/forceexit S9",
              "/golive", "/paper", "/stop", "/show_config", "/show_config telegram", "/version", "/logs 2"]
    calls_before = len(h.fake.calls)
    answers: dict[str, str] = {}
    last = ""
    for line in script:
        text = f"/confirm {last.rsplit('/confirm ', 1)[1].split()[0]}" if line == "CONFIRM" else line
        reply = await h.ask(ADMIN, text)
        last = reply.text
        answers[text if line != "CONFIRM" else f"confirm {len(answers)}"] = reply.text
        assert reply.raw.strip(), text
        assert html_problem(reply.raw) is None, text
        assert reply.parse_mode == "HTML", text
    assert {line.split()[0].lstrip("/") for line in script if line != "CONFIRM"} | {"confirm"} == \
        {c.name for c in COMMANDS}
    recorded = [(m, p.get("text", p.get("caption", ""))[:40]) for m, p in h.fake.calls[calls_before:]
                if m in ("sendMessage", "sendPhoto")]
    assert len(recorded) == len(script)  # one message per command, nothing else
    assert [m for m, _ in recorded].count("sendPhoto") == 3

    assert "Money:" in answers["/help"]
    assert "Trading control:" in answers["/help"]
    assert answers["/health"].startswith("✅ Healthy")
    assert answers["/balance"].startswith("💰 Balance: 10,123.45 USDT")
    assert "In positions: 4,563.00 USDT (1 open)" in answers["/balance"]
    perf = answers["/performance"]
    assert perf.startswith("📈 Performance: +1,249.70 USDT over 4 trades")
    assert "S<1>&_x +15.25 USDT · 2 trades · 50% won" in perf
    assert "ETH/USDT +1,259.95 USDT" in perf
    assert f"{day(0)} +25.50 USDT · 1 trades" in answers["/daily"]
    assert f"{day(1)} −10.25 USDT" in answers["/daily"]
    assert answers["/trades 3"].startswith("🧾 Last 3 of 4 closed trades")
    assert "3,012.35→3,020.1" in answers["/trades 3"] or "3,012.35→3,020.10" in answers["/trades 3"]
    assert "0.3 " in answers["/trades 3"]
    assert "0.30000000000000004" not in answers["/trades 3"]
    assert "Close S2 at market?" in answers["/forceexit S2"]
    assert "ETH/USDT 1.5" in answers["/forceexit S2"]
    assert "HALTS" not in answers["/forceexit all"]
    assert "entries stay allowed" in answers["/forceexit all"]
    assert ("close_position", {"strategy_id": "S2"}, f"telegram:{ADMIN}") in h.calls
    assert ("close_all", {}, f"telegram:{ADMIN}") in h.calls
    assert not any(c[0] == "emergency_stop" for c in h.calls)  # /forceexit all is no emergency stop
    assert "no open position for S9" in answers["/forceexit S9"]
    assert "telegram.per_chat_interval_s" in answers["/show_config telegram"]
    token = h.ctx.secrets.telegram_bot_token
    assert all(token not in a for a in answers.values())
    assert "telegram token set" in answers["/show_config"]
    assert answers["/version"].startswith("🏷 AI Trading Lab")
    assert "python-telegram-bot 22" in answers["/version"]
    saved = json.loads((h.ctx.paths.state / "control.json").read_text())
    assert "person" not in saved["holds"]  # /pause then /resume: the person's hold is gone
