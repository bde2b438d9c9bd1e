"""A replay root is bound to its data: another source is refused in one line; --reset keeps strategies."""

from __future__ import annotations

from pathlib import Path

from src.app.main import EXIT_CONFIG, main
from src.config import parse_config
from src.market.replay_binding import replay_root_problem


def _candles(path: Path, rows: int) -> Path:
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{1_500_000_000_000 + k * 3_600_000},1,1,1,1,1" for k in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_root_replayed_from_files_refuses_the_simulator(tmp_path: Path) -> None:
    old = _candles(tmp_path / "binance_BTC-USDT_1h.csv", 50)
    root = tmp_path / "root"
    assert replay_root_problem(root, parse_config({"replay": {"data": [str(old)]}}), reset=False) is None
    assert replay_root_problem(root, parse_config({"replay": {"data": [str(old)]}}), reset=False) is None

    problem = replay_root_problem(root, parse_config({}), reset=False)

    assert problem is not None
    assert "\n" not in problem
    assert "--reset" in problem
    assert "simulator" in problem


def test_main_refuses_with_one_line_and_reset_moves_state_aside(tmp_path: Path, capsys) -> None:
    root = tmp_path / "root"
    first = _candles(tmp_path / "binance_BTC-USDT_1h.csv", 50)
    assert replay_root_problem(root, parse_config({"replay": {"data": [str(first)]}}), reset=False) is None
    (root / "strategies" / "testing").mkdir(parents=True)
    (root / "strategies" / "testing" / "s1.json").write_text("{}")
    (root / "logs").mkdir()
    (root / "logs" / "ledger_auto.jsonl").write_text("{}\n")
    (tmp_path / "other").mkdir()
    other = _candles(tmp_path / "other" / "binance_BTC-USDT_1h.csv", 80)  # same name, other data

    code = main(["--root", str(root), "--data", str(other), "--duration", "0"])

    err = capsys.readouterr().err.strip()
    assert code == EXIT_CONFIG
    assert len(err.splitlines()) == 1
    assert "--reset" in err
    assert (root / "logs" / "ledger_auto.jsonl").exists(), "a refused start changes nothing"

    problem = replay_root_problem(root, parse_config({"replay": {"data": [str(other)]}}), reset=True)

    assert problem is None
    assert (root / "strategies" / "testing" / "s1.json").exists(), "strategies are kept"
    aside = list(root.glob("reset-*"))
    assert len(aside) == 1
    assert (aside[0] / "logs" / "ledger_auto.jsonl").exists()
    assert (aside[0] / "state").exists()
    assert not (root / "logs" / "ledger_auto.jsonl").exists()
