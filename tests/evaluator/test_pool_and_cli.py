"""Batch evaluation (process pool vs Dask local cluster) and the backtest CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from ai_brain.evaluation.evaluation_pool import EvaluationPool, dask_address
from scripts import backtest as cli
from src.config.evaluator import EvaluatorConfig
from src.strategy.spec import family_spec
from tests.conftest import data_file

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_btc(btc_1h):
    return btc_1h.slice(0, 6000)


def _specs():
    return [family_spec("momentum", fast=f, slow=30, ma="sma") for f in (5, 10)] + [
        family_spec("breakout", channel=30, stop_atr=2.0), family_spec("mean_reversion", short=True)]


async def test_process_pool_and_dask_give_identical_results(small_btc):
    distributed = pytest.importorskip("distributed")
    cfg = EvaluatorConfig(workers=2, lookahead_checks=3, bootstrap_samples=200, monte_carlo_runs=200)
    specs, trials = _specs(), [1, 2, 3, 4]
    with EvaluationPool(cfg) as pool:
        local = await pool.evaluate_many_async(specs, small_btc, trials=trials)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None,
                                  protocol="tcp", host="127.0.0.1") as cluster:
        dask_cfg = cfg.model_copy(update={"executor": "dask://" + cluster.scheduler_address.split("://")[1]})
        with EvaluationPool(dask_cfg) as pool:
            remote = pool.evaluate_many(specs, small_btc, trials=trials)
    assert [e.spec_id for e in local] == [s.id for s in specs]
    assert [e.model_dump_json() for e in local] == [e.model_dump_json() for e in remote]
    assert [e.significance.trials for e in local] == trials


def test_executor_setting_is_validated():
    assert dask_address("dask://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    with pytest.raises(ValueError, match="dask://host:port"):
        EvaluatorConfig(executor="ray://x:1")


def test_cli_family_json_output(capsys):
    path = data_file("binance_BTC-USDT_1h.csv.gz")
    rc = cli.main(["--data", str(path), "--family", "momentum", "--param", "fast=10", "--param", "slow=50",
                   "--param", "ma=sma", "--fee-bps", "5", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["fee_bps"] == 5.0
    assert out["spec_id"].startswith("momentum")
    assert out["out_of_sample"]["trades"] > 0
    assert isinstance(out["passed"], bool)
    assert out["reasons"]


def test_cli_rejects_bad_spec_and_prints_nothing(capsys, tmp_path):
    path = data_file("binance_BTC-USDT_1h.csv.gz")
    rc = cli.main(["--data", str(path), "--family", "momentum", "--param", "fast=50", "--param", "slow=10"])
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.out == ""
    assert "slow (10) must be greater than fast (50)" in captured.err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**family_spec("momentum").model_dump(), "risk": {"stop_atr": -2}}))
    assert cli.main(["--data", str(path), "--strategy", str(bad)]) == 2
    assert "risk.stop_atr" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["bad.json"]


def test_cli_runs_as_a_file_and_reads_strategy_files(tmp_path):
    path = data_file("binance_SOL-USDT_1h.csv.gz")
    strategy = tmp_path / "s.json"
    body = family_spec("breakout", channel=20, stop_atr=2.0).model_dump()
    strategy.write_text(json.dumps({**body, "status": "testing", "performance": {}}))
    done = subprocess.run([sys.executable, "scripts/backtest.py", "--data", str(path), "--strategy", str(strategy)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "verdict:" in done.stdout
    assert "out-of-sample" in done.stdout


def test_config_rejects_unknown_keys_and_odd_blocks():
    with pytest.raises(ValidationError, match="fees_bps"):
        EvaluatorConfig(fees_bps=3)
    with pytest.raises(ValidationError, match="pbo_blocks must be even"):
        EvaluatorConfig(pbo_blocks=9)
    assert EvaluatorConfig.model_validate({"slippage_bps": 4, "ranking": {"turnover": 0.0}}).ranking.turnover == 0.0
