"""Every command round-trips through the real python-telegram-bot client and the fake Bot API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from src.telegram.commands import COMMANDS, bot_commands
from tests.telegram.charts_util import png_size
from tests.telegram.conftest import ADMIN, VIEWER, CockpitFactory, Harness, registry_recorder

HOUR_MS = 3_600_000


class StandInPortfolio:
    """The execution team's portfolio surface (equity, positions, P&L, curve), with fixed numbers."""

    def __init__(self) -> None:
        self.curve = [(1_704_067_200_000 + i * HOUR_MS, 10_000.0 + 5 * i - (i % 5) * 8) for i in range(48)]

    def equity_quote(self) -> float:
        return 10_123.45

    def open_positions(self) -> list[dict[str, Any]]:
        return [{"symbol": "ETH/USDT", "qty_base": 1.5, "avg_entry_quote": 3000.0, "unrealized_quote": 42.0,
                 "strategy_id": "S1"}]

    def net_positions(self) -> list[dict[str, Any]]:
        return [{"venue": "paper", "symbol": "ETH/USDT", "market": "spot", "qty_base": 1.5}]

    def closed_trades(self) -> list[dict[str, Any]]:
        return []  # PortfolioView: no trade closed yet

    def pnl(self, period: str) -> dict[str, float]:
        assert period in ("day", "week", "all"), period
        return {"gross_quote": 50.0, "fees_quote": 2.0, "funding_quote": 1.0, "net_quote": 47.0}


def write_strategy(root: Path, sid: str, status: str, folder: str = "testing") -> None:
    record = {"id": sid, "name": f"{sid} ema", "type": "momentum", "status": status,
              "spec": {"symbols": ["BTC/USDT"], "timeframe": "1h"},
              "performance": {"backtest": {"sharpe": 1.2, "equity_curve": [[0, 100.0], [HOUR_MS, 101.0],
                                                                          [2 * HOUR_MS, 103.0]]}}}
    (root / "strategies" / folder / f"{sid}.json").write_text(json.dumps(record))


async def test_every_command_answers(cockpit: Harness) -> None:
    write_strategy(cockpit.ctx.paths.root, "S1", "awaiting_approval")
    registry_recorder(cockpit, "approve")
    registry_recorder(cockpit, "reject")
    invocations = {"strategy": "/strategy S1", "approve": "/approve S1", "reject": "/reject S1 chop kills it",
                   "confirm": "/confirm 123456", "chart": "/chart drawdown", "analytics": "/analytics auto",
                   "logs": "/logs 3", "pnl": "/pnl week", "stop": "/stop", "release": "/release kill_switch"}
    answers = {}
    for spec in COMMANDS:
        reply = await cockpit.ask(ADMIN, invocations.get(spec.name, f"/{spec.name}"))
        assert reply.text.strip(), spec.name
        answers[spec.name] = reply.text
    assert "replay mode · running" in answers["status"]
    assert "not available in this build" in answers["positions"]
    assert "not available" in answers["pnl"]
    assert "S1" in answers["strategies"]
    assert "awaiting_approval" in answers["strategy"]
    assert "paused" in answers["pause"]
    assert "pause lifted" in answers["resume"]
    assert "no kill_switch hold" in answers["release"]
    assert "cannot go live" in answers["golive"]
    assert "nothing is waiting" in answers["confirm"]
    assert "Daily report" in answers["report"]
    assert "/confirm" in answers["stop"]
    assert all(spec.usage in answers["help"] for spec in COMMANDS)
    assert ("approve", {"id": "S1"}, f"telegram:{ADMIN}") in cockpit.calls
    assert ("reject", {"id": "S1", "reason": "chop kills it"}, f"telegram:{ADMIN}") in cockpit.calls
    assert [c["command"] for c in cockpit.fake.commands_set] == [n for n, _ in bot_commands()]
    viewer_menu = cockpit.fake.command_scopes[json.dumps({"chat_id": VIEWER, "type": "chat"}, sort_keys=True)]
    assert viewer_menu == [n for n, _ in bot_commands("viewer")]
    assert "pause" not in viewer_menu


async def test_pause_and_resume_change_the_persisted_state(cockpit: Harness) -> None:
    await cockpit.ask(ADMIN, "/pause")
    saved = json.loads((cockpit.ctx.paths.state / "control.json").read_text())
    assert saved["holds"]["person"]["by"] == f"telegram:{ADMIN}"
    await cockpit.ask(ADMIN, "/resume")
    assert cockpit.control.state.run_state == "running"


async def test_resume_never_lifts_a_guard_and_release_names_it(cockpit: Harness) -> None:
    cockpit.control.hold("kill_switch", "kill_switch", "drawdown 21% from peak")
    await cockpit.ask(ADMIN, "/resume")
    assert cockpit.control.state.trading_state == "halted"
    await cockpit.ask(ADMIN, "/release kill_switch")
    assert cockpit.control.state.trading_state == "active"


async def test_bad_input_gets_help_or_usage(cockpit: Harness) -> None:
    assert (await cockpit.ask(ADMIN, "/frobnicate")).text.startswith("unknown command. Try: /status")
    assert (await cockpit.ask(ADMIN, "/pnl yesterday")).text.startswith("usage: /pnl [today|week|all]")
    assert (await cockpit.ask(ADMIN, "/reject S1")).text.startswith("usage: /reject <ID> <reason>")
    assert (await cockpit.ask(ADMIN, "/strategy NOPE")).text == "unknown strategy id NOPE"
    assert "usage: /chart" in (await cockpit.ask(ADMIN, "/chart strategy")).text
    assert "not available in this build" in (await cockpit.ask(ADMIN, "/approve S9")).text  # no lifecycle here
    assert (await cockpit.ask(ADMIN, "hello")).text == "send /help for the commands"
    assert cockpit.control.state.run_state == "running"


async def test_portfolio_views_and_charts(cockpit_factory: CockpitFactory) -> None:
    def add_portfolio(h: Harness) -> None:
        h.ctx.services["portfolio"] = StandInPortfolio()

    h = await cockpit_factory(before_start=add_portfolio)
    write_strategy(h.ctx.paths.root, "S2", "dry_run")
    assert "10,123.45 USDT" in (await h.ask(ADMIN, "/status")).text
    assert "ETH/USDT long 1.5 @ 3,000.00 | uPnL +42.00 USDT | S1" in (await h.ask(ADMIN, "/positions")).text
    assert "net +47.00 USDT" in (await h.ask(ADMIN, "/pnl today")).text
    for text in ("/chart", "/chart drawdown", "/chart strategy S2"):
        reply = await h.ask(ADMIN, text)
        assert reply.method == 'sendPhoto', text
        assert reply.photo is not None, text
        assert png_size(reply.photo) == (1000, 500)
    assert "no recorded equity curve" not in (await h.ask(ADMIN, "/chart strategy S2")).text


async def test_logs_shows_the_last_lines(cockpit: Harness) -> None:
    log_file = cockpit.ctx.paths.logs / cockpit.ctx.config.logging.file
    lines = [json.dumps({"ts": f"2026-01-01T00:00:0{i}.000Z", "level": "INFO", "logger": "x", "msg": f"line {i}"})
             for i in range(5)]
    log_file.write_text("\n".join(lines) + "\n")
    reply = (await cockpit.ask(ADMIN, "/logs 2")).text
    assert "line 3" in reply
    assert "line 4" in reply
    assert "line 2" not in reply


async def test_execution_commands_are_called_not_reimplemented(cockpit: Harness) -> None:
    rows = [{"symbol": "BTC/USDT", "qty_base": 0.25, "avg_entry_quote": 50_000.0, "unrealized_quote": -3.0}]

    async def positions(args: dict[str, str], actor: str) -> tuple[bool, str, dict[str, Any]]:
        cockpit.calls.append(("positions", args, actor))
        return True, "1 open position(s)", {"positions": rows}

    async def pnl(args: dict[str, str], actor: str) -> tuple[bool, str, dict[str, Any]]:
        cockpit.calls.append(("pnl", args, actor))
        if args.get("period") not in ("day", "week", "month", "all"):
            return False, "period must be day, week, month or all", {}
        return True, "P&L", {"gross_quote": 10.0, "fees_quote": 1.0, "funding_quote": 0.5, "net_quote": 8.5}

    cockpit.ctx.services["commands"].register("positions", positions)
    cockpit.ctx.services["commands"].register("pnl", pnl)
    assert "BTC/USDT long 0.25 @ 50,000.00 | uPnL −3.00 USDT" in (await cockpit.ask(ADMIN, "/positions")).text
    reply = (await cockpit.ask(ADMIN, "/pnl")).text
    assert reply.startswith("P&L (today)")
    assert "net +8.50 USDT" in reply
    assert [c[1] for c in cockpit.calls if c[0] == "pnl"] == [{"period": "day"}]


async def test_a_command_runs_once_across_a_restart(cockpit_factory: CockpitFactory, tmp_path: Path) -> None:
    def with_approve(h: Harness) -> None:
        registry_recorder(h, "approve")

    first = await cockpit_factory(root=tmp_path / "bot", before_start=with_approve)
    await first.ask(ADMIN, "/approve S1")
    await first.stop()
    second = await cockpit_factory(root=tmp_path / "bot", before_start=with_approve)
    await second.settle()
    assert len(first.calls) == 1
    assert second.calls == []
