"""get_status.py: reads the files when the bot is down, tells alive from hung, asks the live bot."""

from __future__ import annotations

import importlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from src.orders.ledger import Ledger
from tests.scripts.conftest import BotUnderTest, run_script


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _down_root(root: Path) -> None:
    """The files a bot leaves behind after a crash: a pid that is not a bot, an old heartbeat."""
    state = root / "state"
    for folder in ("testing", "active", "retired"):
        (root / "strategies" / folder).mkdir(parents=True)
    state.mkdir(parents=True)
    (state / "bot.pid").write_text(f"{os.getpid()}\n")  # alive, but pytest is not the bot
    (state / "heartbeat.json").write_text(json.dumps({"pid": os.getpid(), "mode": "paper", "state": "running",
                                                      "started_at": "2026-01-01T00:00:00Z",
                                                      "updated_at": "2026-01-01T00:00:00Z",
                                                      "updated_at_epoch": time.time() - 3600}))
    (state / "control.json").write_text(json.dumps({"paused": True, "paused_by": "telegram:1", "halted": False}))
    (root / "strategies" / "testing" / "a.json").write_text(json.dumps({"id": "a", "status": "awaiting_approval"}))
    (root / "strategies" / "active" / "b.json").write_text(json.dumps({"id": "b", "status": "live"}))
    (root / "strategies" / "retired" / "c.json").write_text("{ not json")
    (state / "paper_wallet.json").write_text(json.dumps({"applied_seq": 4, "balances": {"USDT": 9950.5, "BTC": 0.1}}))
    ledger = Ledger(root / "logs")
    for venue, symbol, market, side, qty in (("paper", "BTC/USDT", "spot", "buy", 0.1),
                                             ("live", "ETH/USDT", "perp", "sell", 2.0),
                                             ("live", "SOL/USDT", "spot", "buy", 1.0),
                                             ("live", "SOL/USDT", "spot", "sell", 1.0)):
        ledger.append(kind="fill", ts_ms=1, venue=venue, symbol=symbol, market=market, side=side, qty_base=qty,
                      price_quote=100.0)
    with (root / "logs" / "ledger_auto.jsonl").open("ab") as fh:
        fh.write(b'{"seq": 99, "kind": "fi')  # torn by a kill -9: reported, never repaired by a script


def test_bot_down_reads_the_files_and_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _down_root(root)
    before = _tree(root)

    ran = run_script("get_status.py", root, "--json")

    assert ran.code == 3, ran.err
    report = ran.json()
    assert report["verdict"] == "down"
    assert report["process"] is None
    assert report["heartbeat"]["stale"] is True
    assert report["heartbeat"]["mode"] == "paper"
    assert report["control"]["run_state"] == "paused"
    assert report["control"]["paused_by"] == "telegram:1"
    assert report["strategies"]["folders"] == {"testing": 1, "active": 1, "retired": 1}
    assert report["strategies"]["statuses"] == {"awaiting_approval": 1, "live": 1}
    assert report["strategies"]["unreadable"] == ["retired/c.json"]
    assert report["positions"]["open"] == {
        "paper": [{"symbol": "BTC/USDT", "market": "spot", "qty_base": 0.1}],
        "live": [{"symbol": "ETH/USDT", "market": "perp", "qty_base": -2.0}]}
    assert report["positions"]["unreadable_ledger_lines"] == 1
    assert report["positions"]["paper_balances"] == {"USDT": 9950.5, "BTC": 0.1}
    assert _tree(root) == before  # nothing quarantined, repaired or created


def test_bot_down_human_output(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _down_root(root)
    (root / "STOPPED").write_text(json.dumps({"stopped_by": "ops", "reason": "maintenance"}))

    ran = run_script("get_status.py", root)

    assert ran.code == 3
    assert "not running (held down by STOPPED" in ran.out
    assert "STALE" in ran.out
    assert "hold        person by telegram:1" in ran.out
    assert "verdict     DOWN" in ran.out
    assert "live: ETH/USDT(perp) -2.000" in ran.out
    assert "1 unreadable ledger line(s)" in ran.out
    assert "paper wallet USDT 9,950.50, BTC 0.100" in ran.out  # the step of a 100 USDT asset: 0.001


def test_equity_pnl_and_quantities_for_people(tmp_path: Path) -> None:
    """Equity, today's and total P&L; a quantity rounded to its step; float dust is not a holding."""
    root = tmp_path / "root"
    _down_root(root)
    day = 86_400_000
    now = 1_796_133_600_000  # 2026-12-01 14:00 UTC
    (root / "state" / "paper_wallet.json").write_text(json.dumps({
        "applied_seq": 4, "quote": "USDT", "starting": {"USDT": 10_000.0},
        "balances": {"USDT": 9950.5, "BTC": 0.1, "ETH": 8.6736174e-17}}))
    (root / "logs" / "equity_curve.jsonl").write_text(
        json.dumps({"ts_ms": now - day, "equity_quote": 9_000.0}) + "\n"
        + json.dumps({"ts_ms": now, "equity_quote": 10_234.5678}) + "\n")
    ledger_lines = (root / "logs" / "ledger_auto.jsonl").read_bytes().rsplit(b"\n", 1)[0] + b"\n"
    (root / "logs" / "ledger_auto.jsonl").write_bytes(ledger_lines)  # drop the torn line: append after it
    ledger = Ledger(root / "logs")
    for exit_ms, net in ((now - 2 * day, -40.25), (now - 3_600_000, 12.5), (now - 60_000, 0.054720000000000005)):
        ledger.append(kind="trade", ts_ms=exit_ms, strategy_id="S1", symbol="BTC/USDT",
                      data={"net_quote": net, "exit_ms": exit_ms})

    ran = run_script("get_status.py", root)

    money_line = next(line for line in ran.out.splitlines() if line.startswith("money"))
    assert "equity 10,234.57 USDT at 2026-12-01 14:00 UTC" in money_line
    assert "today +12.55 USDT (2 trades)" in money_line
    assert "total +234.57 USDT since 10,000.00 USDT" in money_line
    assert "realized −27.70 USDT over 3 trades" in money_line
    assert "ETH" not in ran.out.split("paper wallet", 1)[1].splitlines()[0]
    assert "e-17" not in ran.out


def test_empty_root_is_not_an_error(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()

    ran = run_script("get_status.py", root, "--json")

    assert ran.code == 3
    assert ran.json()["heartbeat"] == {"present": False, "problem": None}
    assert list(root.iterdir()) == []


def test_running_bot_is_healthy_and_answers_live(shared_bot: BotUnderTest) -> None:
    ran = run_script("get_status.py", shared_bot.root, "--json", "--live")

    assert ran.code == 0, ran.out + ran.err
    report = ran.json()
    assert report["verdict"] == "healthy"
    assert report["process"]["pid"] == shared_bot.pid
    assert report["heartbeat"]["age_s"] < 30
    assert report["live"]["ok"] is True
    assert "replay" in report["live"]["message"]
    assert report["live"]["data"]["heartbeat"]["pid"] == shared_bot.pid
    assert list((shared_bot.root / "state" / "outbox").iterdir()) == []  # the script cleaned its answer


def test_stopped_process_is_reported_hung(shared_bot: BotUnderTest) -> None:
    os.kill(shared_bot.pid, signal.SIGSTOP)
    try:
        ran = run_script("get_status.py", shared_bot.root, "--json")
    finally:
        os.kill(shared_bot.pid, signal.SIGCONT)

    assert ran.code == 6
    assert ran.json()["verdict"] == "hung"
    assert ran.json()["process"]["stopped"] is True


def test_bad_option_values(tmp_path: Path) -> None:
    ran = run_script("get_status.py", tmp_path, "--stale-after", "0")
    assert ran.code == 2
    assert "positive" in ran.err
    ran = run_script("get_status.py", tmp_path, "--no-such-flag")
    assert ran.code == 2


@pytest.mark.parametrize("module", ["get_status", "approve_strategy", "go_live", "stop_trading"])
def test_help_documents_exit_codes(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    main = importlib.import_module(f"scripts.{module}").main
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    assert "exit codes:" in out
    assert "--root" in out
    assert "--json" in out
    for code in range(7):
        assert f"\n  {code}  " in out


def test_every_hold_is_listed_with_owner_and_reason(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _down_root(root)
    holds = {"person": {"kind": "person", "by": "telegram:1", "reason": "news at 14:00",
                        "since": "2026-01-01T10:00:00Z"},
             "kill_switch": {"kind": "kill_switch", "by": "kill_switch", "reason": "drawdown 21% from peak",
                             "since": "2026-01-01T11:00:00Z"}}
    (root / "state" / "control.json").write_text(json.dumps({"version": 2, "holds": holds}))

    as_json = run_script("get_status.py", root, "--json").json()["control"]
    text = run_script("get_status.py", root).out

    assert as_json["trading_state"] == "halted"
    assert [(h["kind"], h["by"], h["reason"]) for h in as_json["holds"]] == [
        ("person", "telegram:1", "news at 14:00"), ("kill_switch", "kill_switch", "drawdown 21% from peak")]
    assert "control     halted" in text
    assert "hold        person by telegram:1" in text
    assert "news at 14:00 (lifted by resume)" in text
    assert "kill_switch by kill_switch" in text
    assert "(lifted by release hold=kill_switch)" in text
