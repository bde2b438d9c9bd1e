"""The research report: every candidate's verdict in the terminal, report.md and PNG equity curves."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ai_brain.evaluation.backtest_engine import cost_model, run_backtest
from scripts.research import Candidate, ResearchResult
from src.config.evaluator import EvaluatorConfig
from src.orders.fees import FeeSchedule
from src.strategy.data import Candles, Funding

BEST_SHOWN = 5


def _line(c: Candidate) -> str:
    ev = c.verdict or c.first_pass
    verdict = "PASS" if c.passed else "reject: " + ", ".join(c.reasons())
    sharpe = ev.in_sample.sharpe
    return (f"{c.hypothesis.spec.id[:48]:48s} {c.hypothesis.generator:12s} score {c.first_pass.score:+.3f} "
            f"selection Sharpe {'n/a' if sharpe is None else f'{sharpe:+.2f}':>6s}  {verdict}")


def print_verdicts(result: ResearchResult) -> None:
    for c in result.candidates:
        print(_line(c))
    print(f"{result.evaluated} candidates evaluated ({len(result.candidates)} proposed), "
          f"{result.trials} trials on {result.symbol}'s data, "
          f"{len(result.passed)} passed every gate, {result.approval_requests} approval requests")


def rejection_counts(result: ResearchResult) -> Counter[str]:
    """How often each reason rejected a candidate (a candidate may fail several gates)."""
    counts: Counter[str] = Counter()
    for c in result.candidates:
        if c.verdict is None:
            counts["not selected (selection-segment score)"] += 1
        for name in c.reasons() if c.verdict is not None else []:
            counts[name] += 1
    return counts


def _plot(c: Candidate, candles: Candles, funding: Funding | None, path: Path, cfg: EvaluatorConfig) -> None:
    ev = c.verdict or c.first_pass
    costs = cost_model(c.hypothesis.spec, FeeSchedule.from_config(cfg.fees), ev.slippage_bps)
    res = run_backtest(c.hypothesis.spec, candles, funding, costs, cfg.initial_cash, cfg.maintenance_margin)
    cut = len(candles) - ev.out_of_sample.bars
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(res.ts.astype("datetime64[ms]"), res.equity, lw=0.8)
    ax.axvline(candles.ts[cut].astype("datetime64[ms]"), color="grey", ls="--", lw=0.8)
    ax.set_title(f"{c.hypothesis.spec.id[:60]} — selection | test")
    ax.set_ylabel("equity")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(result: ResearchResult, candles: Candles, funding: Funding | None, out: Path,
                 cfg: EvaluatorConfig | None = None) -> Path:
    """report.md with the trial count, the best candidates, every rejection reason; PNGs beside it."""
    cfg = cfg or EvaluatorConfig()
    out.mkdir(parents=True, exist_ok=True)
    n = result.evaluated
    rejected = n - len(result.passed)
    lines = [f"# Research report: {result.symbol}, {result.bars} bars", "",
             f"- candidates evaluated: {n} ({len(result.candidates)} proposed, the rest genetic-search variants)",
             f"- trials charged to the deflated Sharpe: {result.trials}",
             f"- passed every gate: {len(result.passed)}; rejected: {rejected} "
             f"({rejected / n:.1%})" if n else "- no candidates",
             f"- approval requests: {result.approval_requests}", "", "## Why candidates were rejected", ""]
    lines += [f"- {name}: {k}" for name, k in rejection_counts(result).most_common()]
    lines += ["", "## Best candidates (selection-segment score)", "",
              "| id | generator | score | selection return | test return | test Sharpe | DSR | PBO | verdict |",
              "|---|---|---|---|---|---|---|---|---|"]
    best = sorted(result.candidates, key=lambda c: -c.first_pass.score)[:BEST_SHOWN]
    for k, c in enumerate(best):
        ev = c.verdict or c.first_pass
        test_sh = ev.out_of_sample.sharpe
        pbo = ev.significance.pbo
        lines.append(f"| {c.hypothesis.spec.id[:40]} | {c.hypothesis.generator} | {c.first_pass.score:+.3f} | "
                     f"{ev.in_sample.total_return:+.2%} | "
                     + (f"{ev.out_of_sample.total_return:+.2%} | {'n/a' if test_sh is None else f'{test_sh:+.2f}'} | "
                        f"{ev.significance.dsr:.3f} | {'n/a' if pbo is None else f'{pbo:.2f}'}"
                        if c.verdict is not None else "not judged | | | ")
                     + f" | {'PASS' if c.passed else '; '.join(c.reasons())[:120]} |")
        png = out / f"equity_{k + 1}.png"
        _plot(c, candles, funding, png, cfg)
    lines += [""] + [f"![equity {k + 1}](equity_{k + 1}.png)" for k in range(len(best))]
    lines += ["", "Test-segment figures are shown only for the finalists: no selection step reads them."]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
