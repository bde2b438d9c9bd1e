"""The trial ledger counts every distinct hypothesis once per symbol and never restarts at zero."""

from __future__ import annotations

from pathlib import Path

from ai_brain.evaluation.trial_ledger import TrialBatch, TrialRecord, open_trial_ledger
from src.core.events import Alert
from src.state.store import write_model
from src.strategy.spec import family_spec
from tests.brain.conftest import make_record


def _spec(family: str, fast: int, symbol: str = "BTC/USDT"):
    params = {"momentum": {"fast": fast, "slow": 200}, "breakout": {"channel": fast, "exit_channel": 3}}[family]
    return family_spec(family, id=f"{family}-{fast}", symbols=[symbol], timeframe="1h", **params)


def test_trials_count_once_per_symbol_across_families_and_generators(tmp_path: Path) -> None:
    ledger = open_trial_ledger(tmp_path / "state", tmp_path / "strategies")
    specs = [_spec("momentum", n) for n in (10, 20, 30)] + [_spec("breakout", n) for n in (15, 25)]
    ledger.record(TrialRecord.of(s, "templates") for s in specs)
    relabelled = specs[0].model_copy(update={"type": "funding_carry", "id": "llm-1"})
    ledger.record([TrialRecord.of(relabelled, "llm"), TrialRecord.of(_spec("momentum", 10, "ETH/USDT"))])

    again = open_trial_ledger(tmp_path / "state", tmp_path / "strategies")
    assert again.count("BTC/USDT") == len(specs), "a relabelled spec is the same trial"
    assert again.count("ETH/USDT") == 1


def test_the_ledger_only_appends(tmp_path: Path) -> None:
    ledger = open_trial_ledger(tmp_path / "state", tmp_path / "strategies")
    ledger.record([TrialRecord.of(_spec("momentum", 10))])
    first = ledger.path.read_bytes()
    ledger.record([TrialRecord.of(_spec("momentum", 11))])
    assert ledger.path.read_bytes().startswith(first)
    assert len(ledger.path.read_bytes().splitlines()) == 2


def test_a_torn_ledger_is_rebuilt_from_files_and_a_person_is_told(tmp_path: Path, store) -> None:
    state, strategies = tmp_path / "state", tmp_path / "strategies"
    batch = [TrialRecord.of(_spec("momentum", n), "templates", 0.01 * n) for n in range(5, 45)]
    write_model(state / "evaluations" / f"cycle-1{'.trials.json'}", TrialBatch(records=batch))
    store.add(make_record("filed-1"))
    ledger = open_trial_ledger(state, strategies)
    ledger.record(TrialRecord.of(_spec("breakout", n)) for n in range(5, 15))
    counted = ledger.count("BTC/USDT")
    raw = ledger.path.read_bytes()
    ledger.path.write_bytes(raw[: len(raw) // 2] + b"\x00\x00garbage")  # a torn write

    alerts: list = []
    rebuilt = open_trial_ledger(state, strategies, alerts.append)

    assert rebuilt.rebuilt
    assert rebuilt.count("BTC/USDT") >= len(batch) + 1
    assert rebuilt.count("BTC/USDT") > 0
    assert rebuilt.count("BTC/USDT") <= counted
    assert [a.title for a in alerts if isinstance(a, Alert)] == ["Trial ledger rebuilt"]
    assert list((state / "quarantine").glob("trials.jsonl.*")), "the damaged file is kept aside"
    assert open_trial_ledger(state, strategies).count("BTC/USDT") == rebuilt.count("BTC/USDT")


def test_the_variance_across_trials_sharpe_ratios(tmp_path: Path) -> None:
    ledger = open_trial_ledger(tmp_path / "state", tmp_path / "strategies")
    sharpes = [0.01, -0.02, 0.03, 0.0]
    ledger.record(TrialRecord.of(_spec("momentum", 10 + k), sharpe_per_bar=v) for k, v in enumerate(sharpes))
    mean = sum(sharpes) / 4
    assert abs(ledger.sharpe_variance("BTC/USDT") - sum((v - mean) ** 2 for v in sharpes) / 3) < 1e-15
