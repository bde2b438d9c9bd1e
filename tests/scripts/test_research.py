"""scripts/research.py on pure-noise candles: nothing is put up for approval, nearly everything is
rejected, and every evaluated candidate is one trial in the deflated Sharpe."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.research import main
from tests.fixtures.noise import garch_t, gbm, write

YEARS = 4  # multi-year but smaller than the 8-year files of the full experiment, to stay fast


@pytest.mark.parametrize("make", [gbm, garch_t], ids=["gbm", "garch_t"])
def test_research_on_noise_files_asks_for_nothing(tmp_path: Path, make, capsys) -> None:
    data = write(make(YEARS, seed=11), tmp_path / "noise_1h.csv.gz")
    out = tmp_path / "report"

    assert main(["--data", str(data), "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    summary = printed.strip().splitlines()[-2]
    evaluated = int(summary.split(" candidates evaluated")[0])
    trials = int(summary.split("), ")[1].split(" trials")[0])
    passed = int(summary.split(", ")[-2].split(" passed")[0])
    assert summary.endswith("0 approval requests"), summary
    assert evaluated > 50, summary
    assert trials == evaluated, summary
    assert passed <= 0.01 * evaluated, summary
    report = (out / "report.md").read_text()
    assert f"trials charged to the deflated Sharpe: {trials}" in report
    assert "## Why candidates were rejected" in report
    assert list(out.glob("equity_*.png"))
    assert not list((out / "root" / "strategies" / "testing").glob("*.json")), "no noise strategy dry-runs"
