"""Held-out experiment: discover on all but the last 12 months, then re-score on those months.

    python -m bench.holdout_experiment [--data-dir ../shared/data] [--cycles 1] [--out /tmp/holdout]

For each 1h candle file, the bot's whole discovery (scripts/research.py) runs on the history
before the last 12 months. Every proposed candidate is then backtested on the held-back months
(earlier bars only as indicator warm-up). Printed: how many passed every gate, the Spearman rank
correlation between the discovery score and the later Sharpe (over the candidates that passed,
and over every proposed candidate), and the share with a positive later return.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ai_brain.evaluation import statistics as st
from ai_brain.evaluation.backtest_engine import cost_model, run_backtest
from scripts.research import Candidate, research, symbol_of
from src.config.evaluator import EvaluatorConfig
from src.market.history import load_candles, load_funding
from src.orders.fees import FeeSchedule
from src.strategy.data import Candles, Funding

HELD_MS = int(365.25 * 86_400_000)
FILES = ("binance_BTC-USDT_1h.csv.gz", "binance_ETH-USDT_1h.csv.gz", "binance_SOL-USDT_1h.csv.gz")


def later(c: Candidate, full: Candles, start: int, cfg: EvaluatorConfig,
          funding: Funding | None = None) -> tuple[float, float]:
    """(annualised Sharpe, total return) of the candidate over bars [start, end) of ``full``."""
    costs = cost_model(c.hypothesis.spec, FeeSchedule.from_config(cfg.fees), cfg.slippage_bps)
    res = run_backtest(c.hypothesis.spec, full, funding, costs, cfg.initial_cash,
                       cfg.maintenance_margin, start=start)
    m = st.compute_metrics(res, full.step_ms())
    return float(m.sharpe or 0.0), float(m.total_return)


def spearman(a: list[float], b: list[float]) -> float | None:
    if len(a) < 3:
        return None
    return float(pd.Series(a).rank().corr(pd.Series(b).rank()))


def family(c: Candidate) -> str:
    """The edge family of an edge-source candidate, else its generator and type."""
    spec = c.hypothesis.spec
    edge = spec.parameters.get("edge")
    return f"edges:{edge}" if isinstance(edge, str) else f"{c.hypothesis.generator}:{spec.type}"


def funding_for(path: Path) -> Funding | None:
    """The perp funding file of the candle file's symbol, when the data folder has one."""
    base = path.name.split("_")[1] if path.name.count("_") >= 2 else ""
    f = path.parent / f"binanceusdm_{base}_funding-8h.csv.gz"
    return load_funding(f) if base and f.exists() else None


async def one_file(path: Path, out: Path, cycles: int) -> dict[str, object]:
    full = load_candles(path)
    start = int(np.searchsorted(full.ts, int(full.ts[-1]) - HELD_MS))
    symbol, timeframe = symbol_of(path)
    funding = funding_for(path)
    held_fund = None if funding is None else Funding(funding.ts[funding.ts < int(full.ts[start])],
                                                     funding.rate[funding.ts < int(full.ts[start])])
    result = await research(full.slice(0, start), out / path.stem, symbol, timeframe, cycles, held_fund)
    cfg = EvaluatorConfig()
    rows = [(c.first_pass.score, *later(c, full, start, cfg, funding), c.passed) for c in result.candidates]
    per_family: dict[str, list[int]] = {}
    for c, r in zip(result.candidates, rows, strict=True):
        tally = per_family.setdefault(family(c), [0, 0, 0])
        tally[0] += 1
        tally[1] += int(c.passed)
        tally[2] += int(r[2] > 0)
    passed = [r for r in rows if r[3]]
    finalists = [(c.hypothesis.spec.id, round(c.first_pass.score, 3),
                  round(later(c, full, start, cfg, funding)[0], 2),
                  c.reasons()) for c in result.candidates if c.verdict is not None]
    return {"file": path.name, "bars": start, "held_bars": len(full) - start, "evaluated": result.evaluated,
            "trials": result.trials, "passed": len(passed), "approval_requests": result.approval_requests,
            "rho_passed": spearman([r[0] for r in passed], [r[1] for r in passed]),
            "rho_all": spearman([r[0] for r in rows], [r[1] for r in rows]),
            "positive_passed": (sum(r[2] > 0 for r in passed) / len(passed)) if passed else None,
            "positive_all": sum(r[2] > 0 for r in rows) / len(rows) if rows else None,
            "median_later_sharpe_all": float(np.median([r[1] for r in rows])) if rows else None,
            "per family (candidates, passed, positive later return)": per_family,
            "finalists (id, score, later Sharpe, failed gates)": finalists}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--cycles", type=int, default=1)
    p.add_argument("--out", default="holdout_runs")
    args = p.parse_args(argv)
    for name in FILES:
        path = Path(args.data_dir) / name
        if not path.exists():
            print(f"{name}: missing, skipped")
            continue
        print(asyncio.run(one_file(path, Path(args.out), args.cycles)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
