"""Discovery on pure noise: GBM and GARCH-t files without drift (8 years of 1h), generated here.

    python -m bench.noise_experiment [--years 8] [--files 2] [--cycles 1] [--out /tmp/noise]

Prints, per file, the candidates evaluated, the trials counted, how many passed every gate and
the approval requests (the bot must ask for none: there is no edge in noise).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.research import research
from src.strategy.data import Candles
from tests.fixtures.noise import garch_t, gbm


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--years", type=float, default=8.0)
    p.add_argument("--files", type=int, default=2, help="files per process (GBM and GARCH-t each)")
    p.add_argument("--cycles", type=int, default=1)
    p.add_argument("--out", default="noise_runs")
    args = p.parse_args(argv)
    totals = {"evaluated": 0, "trials": 0, "passed": 0, "approval_requests": 0}
    for make in (gbm, garch_t):
        for seed in range(args.files):
            candles = Candles.from_frame(make(args.years, seed=100 + seed))
            root = Path(args.out) / f"{make.__name__}-{seed}"
            r = asyncio.run(research(candles, root, cycles=args.cycles))
            row = {"file": root.name, "bars": r.bars, "evaluated": r.evaluated, "trials": r.trials,
                   "passed": len(r.passed), "approval_requests": r.approval_requests}
            print(row, flush=True)
            for key in totals:
                totals[key] += int(row[key])  # type: ignore[call-overload]
    share = 1 - totals["passed"] / totals["evaluated"] if totals["evaluated"] else 0.0
    print({**totals, "rejected_share": round(share, 4)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
